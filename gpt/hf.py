"""Hugging Face GPT-2 in and out: our GPT as a `transformers` GPT2LMHeadModel directory, and back.

The two models compute the same function, so the way across is a renaming of nothing and
a few exact equivalences:

- Parameter names are already HF GPT-2's. HF's Conv1D layers store their weight as
  (in, out), ours are nn.Linear (out, in): c_attn, c_proj and c_fc weights are transposed.
- HF's GPT-2 always has biases. A model trained without them (bias=False, nanoGPT's
  training default) is exported with zero biases, which computes exactly the same.
- GELU: ours "exact" (the erf form) is HF's activation_function "gelu"; ours "tanh"
  is GPT-2's own "gelu_new". A tied head is tie_word_embeddings true (lm_head.weight is then
  not stored: HF ties it on load); an untied one is stored.
- Packed-document masks are a training-time feature: a model is the same without them.

Beside the HF files, an export keeps the run's tokenizer as a run directory does:
gptkit.json records its identity (gpt2 / gpt4 by name, or tokenizer.model, copied, with its
sha256), so `generate` samples from the directory as from the run. A directory without it
(Hugging Face's own gpt2 and its fine-tunes) gets the GPT-2 tokenizer when its vocabulary is
GPT-2's 50,257 ids.

Only safetensors are written or read (no pickle), and the directory's config.json is
checked against what our GPT computes before anything is built: each field it reads must
have its JSON type (HF_FIELDS), and a GPT-2 variant we cannot reproduce exactly (another
LayerNorm epsilon, an inner width other than 4 x n_embd, scaled or reordered attention...)
is refused with the reason, never loaded as something else. The weights must then be
exactly that GPT's tensors (gpt.checkpoint.check_weights), so a small directory whose
config asks for a huge model is refused before the model is built.
`safetensors` is the optional extra `.[hf]`; `transformers` itself is needed only to use the
exported directory, not to write or read it.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path

import torch

from gptkit_base.errors import GptkitError
from gptkit_base.files import atomic_copy, atomic_write, atomic_write_text, exclusive_directory, require_new_directory
from minbpe import ENDOFTEXT, GPT2Tokenizer, Tokenizer, TokenizerError
from minbpe.hf_tokenizers import export_tokenizer
from pipeline.manifest import TokenizerInfo

from .checkpoint import check_weights, checkpoint_tokenizer, gpt_from_state, load_checkpoint, tokenizer_info
from .model import GPT, GPTConfig

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
GENERATION_FILE = "generation_config.json"
GPTKIT_FILE = "gptkit.json"  # the tokenizer's identity (pipeline.manifest.TokenizerInfo)
GPT2_VOCAB = 50257
CONV1D = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")
GELU_NAMES = {"exact": "gelu", "tanh": "gelu_new"}  # ours (model.GELUS) -> HF's activation_function
LAYER_NORM_EPS = 1e-5  # torch's LayerNorm default, and GPT-2's
# the config.json fields read here: the JSON types each may hold (true / false are not numbers here), in words
WHOLE, NUMBER, FLAG, TEXT = ((int,), "a whole number"), ((int, float), "a number"), ((bool,), "true or false"), \
    ((str,), "text")
HF_FIELDS: dict[str, tuple[tuple[type, ...], str]] = {
    "model_type": TEXT, "activation_function": TEXT, "n_inner": ((int, type(None)), "a whole number or null"),
    "layer_norm_epsilon": NUMBER, "scale_attn_weights": FLAG, "scale_attn_by_inverse_layer_idx": FLAG,
    "reorder_and_upcast_attn": FLAG, "add_cross_attention": FLAG, "tie_word_embeddings": FLAG,
    "vocab_size": WHOLE, "n_positions": WHOLE, "n_layer": WHOLE, "n_head": WHOLE, "n_embd": WHOLE,
}


class HFError(GptkitError, ValueError):
    """A Hugging Face directory that is not a GPT-2 we compute exactly, or an HF feature without its extra."""


def _safetensors():
    try:
        import safetensors.torch
    except ImportError:
        raise HFError("Hugging Face export and import need safetensors: pip install 'gptkit[hf]'") from None
    return safetensors.torch


def is_hf_directory(path: str | os.PathLike) -> bool:
    """A directory that holds a Hugging Face model's config.json (load_hf says what else it needs, so a directory
    with only pickled weights gets that answer, not a run directory's)."""
    return (Path(path) / CONFIG_FILE).is_file()


def hf_config(config: GPTConfig, eos_token_id: int | None = None) -> dict:
    """GPT2Config's fields for our config (what `transformers` reads from config.json)."""
    return {
        "architectures": ["GPT2LMHeadModel"],
        "model_type": "gpt2",
        "vocab_size": config.vocab_size,
        "n_positions": config.block_size,
        "n_embd": config.n_embd,
        "n_layer": config.n_layer,
        "n_head": config.n_head,
        "n_inner": None,  # 4 x n_embd
        "activation_function": GELU_NAMES[config.gelu],
        "resid_pdrop": config.dropout,
        "embd_pdrop": config.dropout,
        "attn_pdrop": config.dropout,
        "layer_norm_epsilon": LAYER_NORM_EPS,
        "initializer_range": 0.02,
        "scale_attn_weights": True,
        "scale_attn_by_inverse_layer_idx": False,
        "reorder_and_upcast_attn": False,
        "tie_word_embeddings": config.tie_weights,
        "bos_token_id": eos_token_id,
        "eos_token_id": eos_token_id,
        "torch_dtype": "float32",
    }


def hf_state_dict(model: GPT) -> dict[str, torch.Tensor]:
    """Our weights under HF GPT-2's layout: Conv1D weights transposed, zero biases where we have none, and
    no lm_head.weight when it is tied (HF ties it on load)."""
    config = model.config
    state = {name: t.detach().to(torch.float32) for name, t in model.state_dict().items()}
    if config.tie_weights:
        del state["lm_head.weight"]
    if not config.bias:
        widths = {"ln_1": config.n_embd, "ln_2": config.n_embd, "attn.c_attn": 3 * config.n_embd,
                  "attn.c_proj": config.n_embd, "mlp.c_fc": 4 * config.n_embd, "mlp.c_proj": config.n_embd}
        for i in range(config.n_layer):
            for layer, width in widths.items():
                state[f"transformer.h.{i}.{layer}.bias"] = torch.zeros(width)
        state["transformer.ln_f.bias"] = torch.zeros(config.n_embd)
    for name in list(state):
        if name.endswith(CONV1D):
            state[name] = state[name].t()
    return {name: t.contiguous() for name, t in state.items()}


def export_hf(model: GPT, directory: str | os.PathLike, eos_token_id: int | None = None) -> list[Path]:
    """Write `directory` as a Hugging Face GPT-2 model (config.json, model.safetensors, generation_config.json);
    the paths written. Each file is written whole or not at all."""
    if model.config.arch != "gpt2":  # nothing written: the Qwen3 export is a later addition
        raise HFError(f"export writes GPT-2 directories, and this is a {model.config.arch} model (Qwen3's "
                      "architecture), which gptkit cannot export to Hugging Face yet")
    st = _safetensors()
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tensors = hf_state_dict(model)
    with atomic_write(directory / WEIGHTS_FILE) as f:
        f.write(st.save(tensors, metadata={"format": "pt"}))
    atomic_write_text(directory / CONFIG_FILE, json.dumps(hf_config(model.config, eos_token_id), indent=2) + "\n")
    generation = {"bos_token_id": eos_token_id, "eos_token_id": eos_token_id}
    atomic_write_text(directory / GENERATION_FILE, json.dumps(generation, indent=2) + "\n")
    return [directory / WEIGHTS_FILE, directory / CONFIG_FILE, directory / GENERATION_FILE]


def gpt_config_from_hf(raw: dict, source: str | os.PathLike) -> GPTConfig:
    """Our GPTConfig for a GPT-2 config.json, or HFError naming what our GPT does not compute."""
    def refuse(why: str) -> HFError:
        return HFError(f"{source}: {why}; gptkit computes GPT-2 exactly, so it does not load this model")

    for name, (types, words) in HF_FIELDS.items():
        value = raw.get(name)
        if name in raw and (not isinstance(value, types) or (isinstance(value, bool) and bool not in types)):
            raise HFError(f"{source}: {name} is {json.dumps(value)[:80]}, not {words}")
    if raw.get("model_type") != "gpt2":
        raise refuse(f"model_type is {raw.get('model_type')!r}, not 'gpt2'")
    gelu = {hf: ours for ours, hf in GELU_NAMES.items()}.get(raw.get("activation_function", "gelu_new"))
    if gelu is None:
        raise refuse(f"activation_function {raw.get('activation_function')!r} (gelu or gelu_new only)")
    if raw.get("n_inner") not in (None, 4 * raw.get("n_embd", 0)):
        raise refuse(f"n_inner {raw['n_inner']} is not 4 x n_embd")
    if not abs(raw.get("layer_norm_epsilon", LAYER_NORM_EPS) - LAYER_NORM_EPS) <= 1e-12:  # NaN too
        raise refuse(f"layer_norm_epsilon {raw['layer_norm_epsilon']} is not {LAYER_NORM_EPS}")
    for flag, expected in (("scale_attn_weights", True), ("scale_attn_by_inverse_layer_idx", False),
                           ("reorder_and_upcast_attn", False), ("add_cross_attention", False)):
        if raw.get(flag, expected) != expected:
            raise refuse(f"{flag} is {raw[flag]!r}")
    try:
        return GPTConfig(vocab_size=raw["vocab_size"], block_size=raw["n_positions"], n_layer=raw["n_layer"],
                         n_head=raw["n_head"], n_embd=raw["n_embd"], dropout=0.0, bias=True,
                         tie_weights=raw.get("tie_word_embeddings", True), gelu=gelu)
    except (KeyError, ValueError) as e:
        raise refuse(f"its config does not describe a GPT-2 ({e})") from None


def load_hf(directory: str | os.PathLike, device: str | torch.device = "cpu") -> GPT:
    """The GPT of a Hugging Face GPT-2 directory, in eval mode (safetensors only; HFError for anything else)."""
    st = _safetensors()
    directory = Path(directory)
    if not (directory / CONFIG_FILE).is_file() or not (directory / WEIGHTS_FILE).is_file():
        raise HFError(f"{directory}: not a Hugging Face model directory (it needs {CONFIG_FILE} and {WEIGHTS_FILE}; "
                      "pickled pytorch_model.bin files are not read)")
    try:
        raw = json.loads((directory / CONFIG_FILE).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise HFError(f"{directory / CONFIG_FILE}: not a JSON config ({e})") from None
    if not isinstance(raw, dict):
        raise HFError(f"{directory / CONFIG_FILE}: not a JSON object")
    config = gpt_config_from_hf(raw, directory / CONFIG_FILE)
    try:
        tensors = st.load_file(str(directory / WEIGHTS_FILE))
    except Exception as e:  # safetensors raises its own SafetensorError for a damaged file
        raise HFError(f"{directory / WEIGHTS_FILE}: not a readable safetensors file ({e})") from None
    tensors = {name.removeprefix("model."): t for name, t in tensors.items()}  # some exports nest the model
    state = {name: t.t() if name.endswith(CONV1D) and t.dim() == 2 else t for name, t in tensors.items()
             if not name.endswith((".attn.bias", ".attn.masked_bias"))}  # some exports hold causal-mask buffers
    if config.tie_weights and "transformer.wte.weight" in state:
        state["lm_head.weight"] = state["transformer.wte.weight"]
    check_weights(lambda: GPT(config), state, directory, HFError)
    model = GPT(config)
    model.load_state_dict(state)
    return model.to(device).eval()


def export_run(checkpoint: str | os.PathLike, directory: str | os.PathLike) -> tuple[list[Path], list[str]]:
    """A train-gpt checkpoint (a run directory or a .pt file) as a Hugging Face GPT-2 directory, with its
    tokenizer (gptkit.json, tokenizer.model when it is a file, and tokenizer.json whenever HF's tokenizers
    gives exactly its ids); the paths written, and notes on what was left out. `directory` must be new or
    empty: an export never replaces files."""
    directory = Path(directory)
    require_new_directory(directory)
    state = load_checkpoint(checkpoint, map_location="cpu")
    model = gpt_from_state(state, checkpoint)
    tokenizer = checkpoint_tokenizer(checkpoint, state)
    info = tokenizer_info(state, checkpoint)
    notes = []
    with exclusive_directory(directory):
        written = export_hf(model, directory, tokenizer.special_tokens.get(ENDOFTEXT))
        try:  # the tokenizer as HF's too, whenever tokenizers gives exactly its ids
            files, notes = export_tokenizer(tokenizer, directory, model.config.block_size)
            written += files
        except TokenizerError as e:
            notes.append(f"no tokenizer.json: {e}")
        if info.file is not None:
            run = Path(checkpoint) if Path(checkpoint).is_dir() else Path(checkpoint).parent
            atomic_copy(run / info.file, directory / info.file)
            written.append(directory / info.file)
        atomic_write_text(directory / GPTKIT_FILE, json.dumps({"tokenizer": asdict(info)}, indent=2) + "\n")
        written.append(directory / GPTKIT_FILE)
    return written, notes


def load_hf_for_sampling(directory: str | os.PathLike, device: str | torch.device = "cpu") -> tuple[GPT, Tokenizer]:
    """The model of a Hugging Face GPT-2 directory and its tokenizer (see the module doc)."""
    model = load_hf(directory, device)
    directory = Path(directory)
    if (directory / GPTKIT_FILE).is_file():
        try:
            record = json.loads((directory / GPTKIT_FILE).read_text(encoding="utf-8"))["tokenizer"]
            tokenizer = TokenizerInfo(**record).load(directory)
        except (KeyError, TypeError, UnicodeDecodeError, json.JSONDecodeError):
            raise HFError(f"{directory / GPTKIT_FILE}: not a gptkit tokenizer record") from None
    elif model.config.vocab_size == GPT2_VOCAB:
        tokenizer = GPT2Tokenizer()
    else:
        raise HFError(f"{directory}: no {GPTKIT_FILE} names its tokenizer, and its {model.config.vocab_size} ids "
                      f"are not GPT-2's {GPT2_VOCAB}")
    if tokenizer.n_vocab > model.config.vocab_size:
        raise HFError(f"{directory}: its tokenizer has {tokenizer.n_vocab} ids, the model {model.config.vocab_size}")
    return model, tokenizer


# the GPT-2 checkpoints `--init-from` fetches by name (nanoGPT's init_from), on the Hugging Face hub
HUB_MODELS = {name: f"openai-community/{name}" for name in ("gpt2", "gpt2-medium", "gpt2-large", "gpt2-xl")}


def pretrained_directory(name_or_directory: str | os.PathLike) -> Path:
    """A Hugging Face GPT-2 directory: the one given, or gpt2 / gpt2-medium / gpt2-large / gpt2-xl fetched from
    the hub (safetensors and config only) into huggingface_hub's cache. Offline, a clear HFError."""
    if Path(name_or_directory).is_dir():
        return Path(name_or_directory)
    repo = HUB_MODELS.get(str(name_or_directory))
    if repo is None:
        raise HFError(f"{name_or_directory}: neither a Hugging Face model directory nor one of "
                      f"{', '.join(HUB_MODELS)}")
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        raise HFError("fetching GPT-2 needs huggingface_hub: pip install 'gptkit[hf]'") from None
    try:
        return Path(snapshot_download(repo, allow_patterns=[CONFIG_FILE, WEIGHTS_FILE, GENERATION_FILE]))
    except Exception as e:  # offline, a proxy, a missing repo: all end here, named
        reason = " ".join(str(e).split())[:160] or type(e).__name__
        raise HFError(f"could not fetch {name_or_directory} from the Hugging Face hub ({reason}); offline, download "
                      f"{repo} elsewhere (huggingface-cli download {repo}) and give its directory") from None
