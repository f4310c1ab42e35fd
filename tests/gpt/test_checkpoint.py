"""Hostile and damaged checkpoints: refused in a moment with one CheckpointError, never unpickled, never built."""

import time
from dataclasses import asdict

import pytest
import torch
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from cli import main
from gpt.checkpoint import CheckpointError, checkpoint_tokenizer, gpt_from_state, load_checkpoint, save_checkpoint
from gpt.model import GPT, GPTConfig

CONFIG = GPTConfig(vocab_size=65, block_size=16, n_layer=2, n_head=2, n_embd=32)


def state(**model_config) -> dict:
    return {"model_config": {**asdict(CONFIG), **model_config}, "model": GPT(CONFIG).state_dict(),
            "tokenizer": {"type": "gpt2", "n_vocab": 50257, "special_tokens": {}, "file": None, "sha256": None}}


@pytest.mark.parametrize("change, message", [
    (dict(n_layer=10**9), "its config asks for a far larger model than the 29 tensors the file holds"),
    (dict(n_layer=3), r"the config makes transformer.h.2.ln_1.weight of shape \(32,\), the file does not hold it"),
    (dict(vocab_size=10**12), r"the file holds transformer.wte.weight of shape \(65, 32\), the config makes "
                              r"\(1000000000000, 32\)"),
    (dict(n_embd=10**6), r"the file holds transformer.wte.weight of shape \(65, 32\), the config makes "
                         r"\(65, 1000000\)"),
    (dict(block_size="16"), "its model_config is not a GPT's .GPTConfig.block_size must be a positive integer"),
    (dict(n_heads=4), "its model_config is not a GPT's"),
])
def test_a_crafted_model_config_is_refused_before_anything_is_built(change, message):
    start = time.perf_counter()
    with pytest.raises(CheckpointError, match=message):
        gpt_from_state(state(**change), "crafted.pt")
    assert time.perf_counter() - start < 1.0


def test_malformed_records_are_checkpoint_errors(tmp_path):
    with pytest.raises(CheckpointError, match="not a train-gpt checkpoint"):
        gpt_from_state({"model_config": [1, 2], "model": {}}, "x.pt")
    for tokenizer in ("gpt2", {"type": "gpt2"}, None):
        with pytest.raises(CheckpointError, match="tokenizer record is missing or malformed"):
            checkpoint_tokenizer(tmp_path, {**state(), "tokenizer": tokenizer})
    assert gpt_from_state(state(), "fine.pt").config == CONFIG


class Payload:
    def __reduce__(self):
        return (print, ("this ran",))


def test_pickled_code_is_never_run_and_no_unsafe_load_is_suggested(tmp_path, capsys):
    torch.save({"format": "gptkit-checkpoint", "version": 1, "payload": Payload()}, tmp_path / "latest.pt")
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(tmp_path)
    assert "never unpickles" in str(info.value) and "weights_only" not in str(info.value)
    assert "this ran" not in capsys.readouterr().out
    save_checkpoint(tmp_path / "latest.pt", state(n_layer=10**9))
    result = CliRunner().invoke(main, ["generate", "--checkpoint", str(tmp_path), "--device", "cpu"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.output.strip().splitlines()[-1].startswith(f"Error: {tmp_path}") and "10**9" not in result.output


def test_a_char_checkpoint_is_checked_too(tmp_path):
    from gpt.char.models import CHAR_KIND, build_model, char_model_from_state
    from gpt.char.train import char_config, model_args

    args = model_args(char_config("gpt", block_size=8, n_layer=1, n_head=1, n_embd=8), 27)
    weights = build_model("gpt", args).state_dict()
    vocab = {"chars": "abcdefghijklmnopqrstuvwxyz", "boundary": True}  # 27 symbols
    good = {"kind": CHAR_KIND, "model_name": "gpt", "model_args": args, "model": weights, **vocab}
    assert char_model_from_state(good, "ok.pt").config.n_layer == 1
    for crafted, message in [({**args, "n_layer": 10**9}, "asks for a far larger model than the 17 tensors"),
                             ({**args, "vocab_size": 10**12}, r"the config makes \(1000000000000, 8\)")]:
        with pytest.raises(CheckpointError, match=message):
            char_model_from_state({**good, "model_args": crafted}, "crafted.pt")
    ensemble = {"kind": CHAR_KIND, "model_name": "ensemble", "model": {f"members.0.{k}": v for k, v in weights.items()},
                "model_args": {"members": [{"model_name": "gpt", "model_args": {**args, "n_layer": 10**9}}]}, **vocab}
    with pytest.raises(CheckpointError, match="asks for a far larger model"):
        char_model_from_state(ensemble, "crafted.pt")
    with pytest.raises(CheckpointError, match=r"the config makes wte.weight of shape \(27, 10\), the file does not"):
        char_model_from_state({**good, "model_name": "mlp", "model_args": {"vocab_size": 27}}, "odd.pt")


VALUES = st.one_of(st.integers(-2, 10**12), st.sampled_from([0, 1, 2, 16, 32, 65]), st.text(max_size=3), st.none(),
                   st.floats(allow_nan=True), st.booleans(), st.lists(st.integers(), max_size=2))


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from([*asdict(CONFIG), "extra"]), VALUES, max_size=6))
def test_random_model_configs_build_or_raise_checkpoint_error(changes):
    start = time.perf_counter()
    try:
        model = gpt_from_state(state(**changes), "fuzz.pt")
    except CheckpointError:
        pass
    else:
        assert sum(p.numel() for p in model.parameters()) < 10**6  # only ever the tensors the file holds
    assert time.perf_counter() - start < 1.0
