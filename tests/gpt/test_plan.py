"""Planning a train-gpt run in the library (gpt.plan): each note and each refusal, without the CLI."""

import os
from pathlib import Path

import pytest

from gpt.char.train import plan_char_run
from gpt.config import PRESETS, SettingsConflict
from gpt.plan import plan_training
from gpt.runs import GPT_FILES, RunExists, check_resume_or_overwrite, claim_run, discard_run, find_runs, latest_run
from gptkit_base import texts


def test_no_data_is_the_demo_on_the_bundled_text():
    plan = plan_training()
    cpu = PRESETS["shakespeare-char-cpu"]
    assert plan.inputs == (str(texts.TINYSHAKESPEARE),) and plan.tokenizer == "char"
    assert plan.config.out == "out/shakespeare-char-cpu" and plan.config.data == "out/shakespeare-char-cpu/data"
    assert (plan.config.n_layer, plan.config.n_embd, plan.config.max_iters) == (cpu["n_layer"], cpu["n_embd"],
                                                                                  cpu["max_iters"])
    assert plan.notes == []  # the demo's recipe is the user's choice by default, not a guess about the device
    gpu_recipe = plan_training(preset="shakespeare-char")
    assert gpu_recipe.config.out == "out/shakespeare-char" and gpu_recipe.config.n_embd == 384


@pytest.mark.parametrize("given, words", [
    (dict(preset="gpt2-124m"), "gpt2-124m is a recipe for a large corpus, not for the bundled Tiny Shakespeare"),
    (dict(init_from="gpt2"), "--init-from goes on training GPT-2 on GPT-2's tokens"),
])
def test_no_data_refuses_the_large_recipes_and_init_from(given, words):
    with pytest.raises(SettingsConflict, match="give --data DIR") as refused:
        plan_training(**given)
    assert words in str(refused.value) and "\n" not in str(refused.value)


def test_no_preset_nor_shape_takes_the_recipe_sized_for_the_device_and_says_so():
    plan = plan_training(data="prepared", device="cpu")
    assert plan.notes == ["no --preset or shape flags: the shakespeare-char-cpu recipe, sized for this device "
                          "(give --preset or --n-layer/--n-head/--n-embd/--block-size to choose)"]
    assert plan.config.n_embd == PRESETS["shakespeare-char-cpu"]["n_embd"] and plan.config.data == "prepared"
    assert plan.config.out == "out/run"  # the preset was chosen for the device, not given: the folder is generic
    assert plan.inputs == () and plan.prepare_data() is None
    shaped = plan_training(data="prepared", n_layer=2, n_head=2, n_embd=32, block_size=16)
    assert shaped.notes == [] and (shaped.config.n_layer, shaped.config.n_embd) == (2, 32)
    assert shaped.config.lr == 6e-4  # TrainConfig's own defaults beside the shape given


def test_arch_modern_takes_the_modern_twin_of_the_recipe():
    """--arch modern with no preset: the twin of the recipe it would have had, the same but for Qwen3's blocks and
    Muon (docs/training.md's sweep), on the bundled text and sized for the device alike."""
    modern = {"arch": "modern", "optimizer": "muon", "muon_lr": 0.02, "lr": 3e-3, "min_lr": 3e-4}
    assert PRESETS["shakespeare-char-modern"] == {**PRESETS["shakespeare-char"], **modern}
    # on a CPU, half the steps: the twin's wall time is its recipe's (benchmarks/modern_cpu.py)
    assert PRESETS["shakespeare-char-cpu-modern"] == {**PRESETS["shakespeare-char-cpu"], **modern, "max_iters": 1000}
    demo = plan_training(arch="modern")
    assert demo.config.out == "out/shakespeare-char-cpu-modern" and demo.notes == []
    assert (demo.config.arch, demo.config.optimizer, demo.config.muon_lr, demo.config.lr, demo.config.max_iters) == (
        "modern", "muon", 0.02, 3e-3, 1000)
    sized = plan_training(data="prepared", device="cpu", arch="modern")
    assert sized.notes[0].startswith("no --preset or shape flags: the shakespeare-char-cpu-modern recipe")
    assert (sized.config.arch, sized.config.optimizer, sized.config.n_embd) == ("modern", "muon", 128)
    assert plan_training(preset="shakespeare-char-modern").config.n_embd == 384  # a demo recipe: no --data needed
    mine = plan_training(arch="modern", optimizer="adamw")  # a flag still overrides the twin's value
    assert (mine.config.arch, mine.config.optimizer) == ("modern", "adamw")
    gpt2 = plan_training(data="prepared", device="cpu", arch="gpt2")
    assert gpt2.notes[0].startswith("no --preset or shape flags: the shakespeare-char-cpu recipe,")


def test_the_output_folder_and_the_prepared_inputs():
    plan = plan_training(inputs=["notes.txt"], tokenizer="gpt2", preset="shakespeare-char")
    assert plan.config.out == "out/shakespeare-char" and plan.inputs == ("notes.txt",) and plan.tokenizer == "gpt2"
    assert Path(plan.config.data) == Path("out/shakespeare-char/data")
    assert plan_training(data="d", preset="gpt2-124m", out="mine").config.out == "mine"


def test_init_from_takes_the_shape_of_the_pretrained_model():
    with pytest.raises(SettingsConflict, match="^the model's shape comes from --init-from: leave out --n-layer"):
        plan_training(data="d", init_from="gpt2", n_embd=64)
    plan = plan_training(data="d", init_from="gpt2", block_size=64)  # a shorter context is allowed
    assert plan.notes == [] and plan.config.init_from == "gpt2" and plan.config.block_size == 64


@pytest.mark.parametrize("given, words", [
    (dict(data="d", inputs=["t.txt"]), "give --data (a prepared directory) or --input (text to prepare), not both"),
    (dict(data="d", resume=True, overwrite=True), "give --resume or --overwrite, not both"),
])
def test_settings_that_exclude_each_other_are_refused(given, words):
    with pytest.raises(SettingsConflict) as refused:
        plan_training(**given)
    assert str(refused.value) == words


def test_train_char_plan_fresh_and_refused():
    cfg = plan_char_run(model="bigram-counts", split="none", lr=None)
    assert cfg.out == "out/char/bigram-counts" and cfg.input == str(texts.NAMES) and cfg.split == "none"
    assert plan_char_run().model == "mlp" and plan_char_run().out == "out/char/mlp"
    with pytest.raises(SettingsConflict, match="^give --resume or --overwrite, not both$"):
        plan_char_run(resume=True, overwrite=True)


def test_claim_refuses_a_run_folder_unless_overwriting_then_clears_it(tmp_path):
    (tmp_path / "metrics.jsonl").write_text("{}\n")
    (tmp_path / "best.pt").write_bytes(b"old")
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(RunExists, match=r"already holds a run \(metrics.jsonl\); continue it with --resume"):
        claim_run(tmp_path, GPT_FILES, overwrite=False)
    claim_run(tmp_path, GPT_FILES, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]  # the run's files only
    (tmp_path / "tokenizer.model").write_text("x")
    discard_run(tmp_path, GPT_FILES, [None, "tokenizer.model"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
    check_resume_or_overwrite(True, False)
    with pytest.raises(SettingsConflict):
        check_resume_or_overwrite(True, True)


def test_latest_run_is_the_one_written_last(tmp_path):
    assert latest_run(tmp_path) is None and find_runs(tmp_path / "absent") == []
    for name, mtime in (("b", 200), ("a", 300), ("c/d", 100)):
        (tmp_path / name).mkdir(parents=True)
        (tmp_path / name / "latest.pt").write_bytes(b"")
        os.utime(tmp_path / name / "latest.pt", (mtime, mtime))
    assert find_runs(tmp_path) == [tmp_path / "a", tmp_path / "b", tmp_path / "c/d"]
    assert latest_run(tmp_path) == tmp_path / "a"
