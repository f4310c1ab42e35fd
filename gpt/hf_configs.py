"""The Hugging Face architectures gptkit computes exactly, as tables read both ways: config.json and weight names.

    GPT2LMHeadModel    (model_type gpt2)   GPTConfig(arch="gpt2")
    Qwen3ForCausalLM   (model_type qwen3)  GPTConfig(arch="modern")
    LlamaForCausalLM   (model_type llama)  GPTConfig(arch="modern", qk_norm=False): Qwen3 without QK-norm

An Architecture says which config.json field holds which GPTConfig setting (`names`), the fields
that must hold one value for the model to be the function we compute (`fixed`: a field left out
means Hugging Face's default, which is that value), and Hugging Face's own defaults for the
settings a config.json may leave out (`defaults`; the others are required). Export writes the same
table: `names` from our config, `fixed` as they are. What a table cannot say is code, per family:

- GPT-2: HF's Conv1D layers store their weights as (in, out), ours are nn.Linear (out, in), so the
  c_attn, c_proj and c_fc weights are transposed; HF's GPT-2 always has biases, so a model trained
  without them is written with zero biases (the same function); our exact GELU is HF's
  activation_function "gelu", GPT-2's tanh form "gelu_new"; the inner width must be 4 x n_embd.
- Qwen3 / Llama: our names are theirs inside a block (gpt.modern), so the weights are three prefixes
  renamed and nothing else; the head size must be hidden_size / num_attention_heads; positions are
  rotary with the default (unscaled) frequencies, read from `rope_parameters` (transformers 5) or
  the older `rope_theta` and `rope_scaling` (both are written, so either version reads the export);
  every layer must be full attention (no sliding windows).

Every field read is first checked to have its JSON type (HF_FIELDS; true / false are not numbers
here). A tied head is tie_word_embeddings true, and lm_head.weight is then not stored (HF ties it
on load). gpt.hf moves the files.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import torch

from gptkit_base.errors import GptkitError

from .model import GPT, GPTConfig

# the config.json fields read here: the JSON types each may hold, in words
WHOLE, NUMBER, FLAG, TEXT = ((int,), "a whole number"), ((int, float), "a number"), ((bool,), "true or false"), \
    ((str,), "text")
OBJECT, LIST = ((dict, type(None)), "an object or null"), ((list, type(None)), "a list or null")
WHOLE_OR_NULL = ((int, type(None)), "a whole number or null")
HF_FIELDS: dict[str, tuple[tuple[type, ...], str]] = {
    "model_type": TEXT, "tie_word_embeddings": FLAG, "vocab_size": WHOLE,
    # GPT-2's
    "activation_function": TEXT, "n_inner": WHOLE_OR_NULL, "layer_norm_epsilon": NUMBER, "scale_attn_weights": FLAG,
    "scale_attn_by_inverse_layer_idx": FLAG, "reorder_and_upcast_attn": FLAG, "add_cross_attention": FLAG,
    "n_positions": WHOLE, "n_layer": WHOLE, "n_head": WHOLE, "n_embd": WHOLE,
    # Qwen3's and Llama's
    "hidden_size": WHOLE, "intermediate_size": WHOLE, "num_hidden_layers": WHOLE, "num_attention_heads": WHOLE,
    "num_key_value_heads": WHOLE_OR_NULL, "head_dim": WHOLE_OR_NULL, "max_position_embeddings": WHOLE,
    "rms_norm_eps": NUMBER, "hidden_act": TEXT, "attention_bias": FLAG, "mlp_bias": FLAG, "pretraining_tp": WHOLE,
    "use_sliding_window": FLAG, "layer_types": LIST, "rope_theta": NUMBER, "rope_scaling": OBJECT,
    "rope_parameters": OBJECT, "partial_rotary_factor": NUMBER,
}
ROPE_FIELDS = {"rope_type": TEXT, "rope_theta": NUMBER}  # what an unscaled rope_parameters holds
DEFAULT_ROPE_THETA = 10000.0  # transformers' default for both
FULL_ATTENTION = "full_attention"

GELU_NAMES = {"exact": "gelu", "tanh": "gelu_new"}  # ours (model.GELUS) -> HF's activation_function
CONV1D = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")
# ours -> Qwen3's / Llama's weight names (gpt.modern's docstring)
MODERN_PREFIXES = (("transformer.wte.", "model.embed_tokens."), ("transformer.h.", "model.layers."),
                   ("transformer.ln_f.", "model.norm."))


class HFError(GptkitError, ValueError):
    """A Hugging Face directory that is not a model we compute exactly, or an HF feature without its extra."""


@dataclass(frozen=True)
class Architecture:
    """One Hugging Face architecture we compute exactly, for reading and writing its config.json."""

    model_type: str
    class_name: str  # transformers' model class (config.json's "architectures")
    display: str  # its name in messages
    names: dict[str, str]  # GPTConfig setting -> config.json field
    fixed: dict[str, Any]  # config.json field -> the one value we compute (absent: HF's default, which is it)
    defaults: dict[str, Any] = field(default_factory=dict)  # HF's default of a field in names (others: required)
    ours: dict[str, Any] = field(default_factory=dict)  # GPTConfig settings the architecture itself decides


GPT2 = Architecture(
    "gpt2", "GPT2LMHeadModel", "GPT-2",
    names={"vocab_size": "vocab_size", "block_size": "n_positions", "n_layer": "n_layer", "n_head": "n_head",
           "n_embd": "n_embd", "tie_weights": "tie_word_embeddings"},
    fixed={"layer_norm_epsilon": 1e-5,  # torch's LayerNorm default, and GPT-2's
           "scale_attn_weights": True, "scale_attn_by_inverse_layer_idx": False, "reorder_and_upcast_attn": False,
           "add_cross_attention": False},
    defaults={"tie_word_embeddings": True},
    ours={"arch": "gpt2", "bias": True, "dropout": 0.0},
)
MODERN_NAMES = {"vocab_size": "vocab_size", "block_size": "max_position_embeddings", "n_layer": "num_hidden_layers",
                "n_head": "num_attention_heads", "n_kv_head": "num_key_value_heads", "n_embd": "hidden_size",
                "intermediate_size": "intermediate_size", "rms_norm_eps": "rms_norm_eps",
                "tie_weights": "tie_word_embeddings"}
MODERN_FIXED = {"hidden_act": "silu", "attention_bias": False, "rope_scaling": None, "partial_rotary_factor": 1.0}
QWEN3 = Architecture(
    "qwen3", "Qwen3ForCausalLM", "Qwen3", MODERN_NAMES, {**MODERN_FIXED, "use_sliding_window": False},
    # Qwen3Config's own defaults (null key/value heads: as many as the query heads)
    defaults={"num_key_value_heads": 32, "head_dim": 128, "rms_norm_eps": 1e-6, "tie_word_embeddings": False},
    ours={"arch": "modern", "qk_norm": True, "dropout": 0.0},
)
LLAMA = Architecture(
    "llama", "LlamaForCausalLM", "Llama", MODERN_NAMES, {**MODERN_FIXED, "mlp_bias": False, "pretraining_tp": 1},
    defaults={"num_key_value_heads": None, "head_dim": None, "rms_norm_eps": 1e-6, "tie_word_embeddings": False},
    ours={"arch": "modern", "qk_norm": False, "dropout": 0.0},
)
ARCHITECTURES = {arch.model_type: arch for arch in (GPT2, QWEN3, LLAMA)}


def architecture_of(config: GPTConfig) -> Architecture:
    """The Hugging Face architecture our model is: GPT-2, Qwen3, or Llama (modern without QK-norm)."""
    if config.arch == "gpt2":
        return GPT2
    return QWEN3 if config.qk_norm else LLAMA


def hf_config(config: GPTConfig, eos_token_id: int | None = None) -> dict:
    """The config.json that transformers reads as our model (its architecture by architecture_of)."""
    arch = architecture_of(config)
    fields = {"architectures": [arch.class_name], "model_type": arch.model_type,
              **{theirs: getattr(config, ours) for ours, theirs in arch.names.items()}, **arch.fixed}
    if arch is GPT2:
        fields.update({"n_inner": None,  # 4 x n_embd
                       "activation_function": GELU_NAMES[config.gelu], "resid_pdrop": config.dropout,
                       "embd_pdrop": config.dropout, "attn_pdrop": config.dropout})
    else:
        fields.update({"head_dim": config.n_embd // config.n_head, "rope_theta": config.rope_theta,
                       "rope_parameters": {"rope_type": "default", "rope_theta": config.rope_theta},
                       "attention_dropout": config.dropout, "use_cache": True})
        if arch is QWEN3:  # every layer full attention, said as Qwen3Config says it
            fields.update({"sliding_window": None, "max_window_layers": config.n_layer,
                           "layer_types": [FULL_ATTENTION] * config.n_layer})
    return {**fields, "initializer_range": 0.02, "bos_token_id": eos_token_id, "eos_token_id": eos_token_id,
            "torch_dtype": "float32"}


def check_field_types(raw: dict, fields: dict[str, tuple[tuple[type, ...], str]], source: str | os.PathLike,
                      within: str = "") -> None:
    """HFError naming the first of `fields` that raw holds with another JSON type."""
    for name, (types, words) in fields.items():
        value = raw.get(name)
        if name in raw and (not isinstance(value, types) or (isinstance(value, bool) and bool not in types)):
            raise HFError(f"{source}: {within}{name} is {json.dumps(value)[:80]}, not {words}")


def gpt_config_from_hf(raw: dict, source: str | os.PathLike) -> GPTConfig:
    """Our GPTConfig for a config.json, or HFError naming what our GPT does not compute."""
    check_field_types(raw, HF_FIELDS, source)
    arch = ARCHITECTURES.get(raw.get("model_type"))

    def refuse(why: str) -> HFError:
        what = f"{arch.display} models" if arch else ", ".join(a.display for a in ARCHITECTURES.values()) + " models"
        return HFError(f"{source}: {why}; gptkit loads only the {what} it computes exactly")

    if arch is None:
        known = ", ".join(repr(name) for name in ARCHITECTURES)
        raise refuse(f"model_type is {raw.get('model_type')!r}, not one of {known}")
    for name, expected in arch.fixed.items():
        if raw.get(name, expected) != expected:  # NaN too
            raise refuse(f"{name} is {json.dumps(raw[name])[:80]}, not {json.dumps(expected)}")
    missing = [theirs for theirs in arch.names.values() if theirs not in raw and theirs not in arch.defaults]
    if missing:
        raise refuse(f"it has no {', '.join(missing)}")
    settings = {ours: raw.get(theirs, arch.defaults.get(theirs)) for ours, theirs in arch.names.items()}
    settings.update(arch.ours)
    settings.update(_gpt2_settings(raw, refuse) if arch is GPT2
                    else _modern_settings(raw, arch, settings, refuse, source))
    try:
        return GPTConfig(**settings)
    except ValueError as e:  # ConfigError: heads that do not divide the width, an odd head size...
        raise refuse(f"its config does not describe a {arch.display} we build ({e})") from None


def _gpt2_settings(raw: dict, refuse: Callable[[str], HFError]) -> dict[str, Any]:
    """What the GPT-2 table cannot say: the GELU, and an inner width of 4 x n_embd."""
    gelu = {hf: ours for ours, hf in GELU_NAMES.items()}.get(raw.get("activation_function", "gelu_new"))
    if gelu is None:
        raise refuse(f"activation_function {raw.get('activation_function')!r} (gelu or gelu_new only)")
    if raw.get("n_inner") not in (None, 4 * raw["n_embd"]):
        raise refuse(f"n_inner {raw['n_inner']} is not 4 x n_embd")
    return {"gelu": gelu}


def _modern_settings(raw: dict, arch: Architecture, settings: dict[str, Any], refuse: Callable[[str], HFError],
                     source: str | os.PathLike) -> dict[str, Any]:
    """What the Qwen3 / Llama tables cannot say: the head size, rotary positions without scaling, every layer
    full attention."""
    head_dim = raw.get("head_dim", arch.defaults["head_dim"])
    if head_dim is not None and head_dim * settings["n_head"] != settings["n_embd"]:
        raise refuse(f"head_dim {head_dim} is not hidden_size / num_attention_heads ({settings['n_embd']} / "
                     f"{settings['n_head']})")
    rope = raw.get("rope_parameters") or {}
    check_field_types(rope, ROPE_FIELDS, source, "rope_parameters.")
    other = next((name for name in rope if name not in ROPE_FIELDS), None)
    if other is not None or rope.get("rope_type", "default") != "default":
        raise refuse(f"rope_parameters is {json.dumps(rope)[:80]}, not the default rotary positions (rope_type "
                     "default and a rope_theta only)")
    layers = raw.get("layer_types") or []
    if any(kind != FULL_ATTENTION for kind in layers):
        kind = next(kind for kind in layers if kind != FULL_ATTENTION)
        raise refuse(f"layer_types holds {json.dumps(kind)[:80]}, and every layer must be {FULL_ATTENTION}")
    # transformers 5 reads rope_parameters first, then the older top-level rope_theta
    return {"rope_theta": rope.get("rope_theta", raw.get("rope_theta", DEFAULT_ROPE_THETA))}


def hf_state_dict(model: GPT) -> dict[str, torch.Tensor]:
    """Our weights under the Hugging Face architecture's names and layouts, in float32 (see the module doc); no
    lm_head.weight when it is tied (HF ties it on load)."""
    config = model.config
    state = {name: t.detach().to(torch.float32) for name, t in model.state_dict().items()}
    if config.tie_weights:
        del state["lm_head.weight"]
    if config.arch != "gpt2":
        state = {_renamed(name, MODERN_PREFIXES): t for name, t in state.items()}
    elif not config.bias:
        widths = {"ln_1": config.n_embd, "ln_2": config.n_embd, "attn.c_attn": 3 * config.n_embd,
                  "attn.c_proj": config.n_embd, "mlp.c_fc": 4 * config.n_embd, "mlp.c_proj": config.n_embd}
        for i in range(config.n_layer):
            for layer, width in widths.items():
                state[f"transformer.h.{i}.{layer}.bias"] = torch.zeros(width)
        state["transformer.ln_f.bias"] = torch.zeros(config.n_embd)
    return {name: (t.t() if config.arch == "gpt2" and name.endswith(CONV1D) else t).contiguous()
            for name, t in state.items()}


def state_from_hf(tensors: dict[str, torch.Tensor], config: GPTConfig) -> dict[str, torch.Tensor]:
    """A Hugging Face file's tensors under our names and layouts, for the GPT of `config` (check_weights then says
    whether they are exactly its tensors)."""
    if config.arch == "gpt2":
        tensors = {name.removeprefix("model."): t for name, t in tensors.items()}  # some exports nest the model
        state = {name: t.t() if name.endswith(CONV1D) and t.dim() == 2 else t for name, t in tensors.items()
                 if not name.endswith((".attn.bias", ".attn.masked_bias"))}  # some exports hold causal-mask buffers
    else:
        state = {_renamed(name, [(theirs, ours) for ours, theirs in MODERN_PREFIXES]): t
                 for name, t in tensors.items()}
    if config.tie_weights and "transformer.wte.weight" in state:
        state["lm_head.weight"] = state["transformer.wte.weight"]
    return state


def in_their_names(message: str, config: GPTConfig) -> str:
    """A message about our tensors (check_weights') with their names as the Hugging Face file holds them."""
    if config.arch != "gpt2":  # GPT-2's names are already HF's
        for ours, theirs in MODERN_PREFIXES:
            message = message.replace(ours, theirs)
    return message


def _renamed(name: str, prefixes: Iterable[tuple[str, str]]) -> str:
    """name with the first of its (old, new) prefixes replaced."""
    for old, new in prefixes:
        if name.startswith(old):
            return new + name[len(old):]
    return name
