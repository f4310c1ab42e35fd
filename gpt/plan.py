"""Planning a train-gpt run: what the user gave turned into the run's TrainConfig and the notes to show.

    plan = plan_training(inputs=["notes.txt"], tokenizer="gpt2", max_iters=500)
    for note in plan.notes:
        print(note)                  # the choices made on the user's behalf
    plan.prepare_data()              # --input: the text into token shards in OUT/data
    train(plan.config)

The CLI's train-gpt is this plan, the preparation and gpt.train.train; a library user calling
plan_training gets the same run. The choices it makes:

- no data at all (neither `data` nor `inputs`): the demo, nanoGPT's CPU recipe on the bundled Tiny
  Shakespeare. Only the recipes made for that text are taken there (gpt2-124m would train an
  85M-parameter GPT on 1 MB of characters, for days on a CPU), and no `init_from` (GPT-2 goes on
  training on GPT-2's tokens, not on characters);
- neither a preset nor a shape setting: the recipe sized for the device it will run on, said in a
  note (TrainConfig's own defaults are GPT-2 124M, which stalls a laptop without a word);
- `init_from`: the model's architecture and shape are the pretrained model's (a Hugging Face GPT-2, Qwen3 or
  Llama), so arch, n_layer, n_head, n_kv_head and n_embd are refused;
- the output folder: `out`, else out/<preset>, else out/run.

A refusal is a SettingsConflict (the command line must change; the CLI shows it as a usage error).
A resumed run takes its checkpoint's settings (gpt.config.resume_config), on the data it was
trained on unless `data` or `inputs` say otherwise.

This module is above gpt.runs (the folder's names) and beside the trainers, whose data
preparation it calls.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gptkit_base import texts

from .config import SHAPE, TWINNED, SettingsConflict, TrainConfig, config_from, preset_for, resume_config, twin
from .device import pick_device
from .runs import DATA_DIR, check_resume_or_overwrite
from .train import prepare_run_data

DEMO_PRESET = "shakespeare-char-cpu"  # a run given no data: this recipe on the bundled Tiny Shakespeare
# the recipes made for Tiny Shakespeare (preset_for's), and their modern twins
DEMO_PRESETS = (*TWINNED, *(twin(p, "modern") for p in TWINNED))
# the settings a pretrained model decides (--block-size may still shorten its context)
FROM_PRETRAINED = ("arch", "n_layer", "n_head", "n_kv_head", "n_embd")


@dataclass
class TrainPlan:
    """A train-gpt run as planned: its settings, the notes that say what was chosen for the user, and the text
    files to prepare into config.data first (none when config.data is a prepared directory already)."""

    config: TrainConfig
    notes: list[str] = field(default_factory=list)
    inputs: tuple[str, ...] = ()
    tokenizer: str = "char"

    def prepare_data(self) -> str | None:
        """Prepare the inputs into config.data (up to date, or resumed, as gptkit prepare is); what was done, in
        words, or None when there is nothing to prepare."""
        if not self.inputs:
            return None
        result = prepare_run_data(self.inputs, self.config.out, self.tokenizer)
        return (f"prepared {result.directory}: {result.manifest.splits['train'].tokens:,} training tokens"
                + (" (up to date)" if result.up_to_date else ""))


def plan_training(data: str | None = None, inputs: Sequence[str] = (), tokenizer: str = "char",
                  preset: str | None = None, out: str | None = None, resume: bool = False, overwrite: bool = False,
                  init_from: str | None = None, **settings: Any) -> TrainPlan:
    """The plan of a train-gpt run from what the user gave (see the module doc): `data` a prepared directory or
    `inputs` text files to prepare with `tokenizer`; `settings` are TrainConfig's (None = not given)."""
    if data is not None and inputs:
        raise SettingsConflict("give --data (a prepared directory) or --input (text to prepare), not both")
    check_resume_or_overwrite(resume, overwrite)
    inputs, notes = tuple(inputs), []
    bare = data is None and not inputs
    if bare and not resume:
        if preset not in (None, *DEMO_PRESETS):
            raise SettingsConflict(f"{preset} is a recipe for a large corpus, not for the bundled Tiny Shakespeare: "
                                   "give --data DIR (made by gptkit prepare) or --input FILE")
        if init_from:
            raise SettingsConflict("--init-from goes on training GPT-2 on GPT-2's tokens, not on the bundled text's "
                                   "characters: give --data DIR (made by gptkit prepare --tokenizer gpt2) or --input "
                                   "FILE --tokenizer gpt2")
        inputs, tokenizer = (str(texts.TINYSHAKESPEARE),), "char"
        preset = preset or twin(DEMO_PRESET, settings.get("arch"))
    out = out or f"out/{preset or (DEMO_PRESET if bare else 'run')}"
    if init_from and any(settings.get(name) is not None for name in FROM_PRETRAINED):
        raise SettingsConflict("the model's shape comes from --init-from: leave out --n-layer, --n-head, --n-kv-head, "
                               "--n-embd and --arch")
    if preset is None and not resume and not init_from and not any(settings.get(name) is not None for name in SHAPE):
        preset = preset_for(pick_device(settings.get("device") or "auto").type, settings.get("arch"))
        notes.append(f"no --preset or shape flags: the {preset} recipe, sized for this device "
                     "(give --preset or --n-layer/--n-head/--n-embd/--block-size to choose)")
    if inputs:
        data = str(Path(out) / DATA_DIR)
    if resume:  # the run's own settings, and the data it was trained on unless data or inputs say otherwise
        config = resume_config(out, preset, data=data, **settings)
    else:
        config = config_from(preset, data=data, out=out, overwrite=overwrite, init_from=init_from, **settings)
    return TrainPlan(config, notes, inputs, tokenizer)

