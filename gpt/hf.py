"""Hugging Face in and out: our GPT as a `transformers` model directory, and back.

A gpt2 run leaves as a GPT2LMHeadModel, a modern run as a Qwen3ForCausalLM (or, without QK-norm,
a LlamaForCausalLM); and directories of those three architectures load as our GPT, whenever their
config.json describes a model we compute exactly. The two sides compute the same function, so
the way across is a table (gpt.hf_configs: the config.json fields, the weight names and the few
exact equivalences, such as GPT-2's transposed Conv1D weights and zero biases).

Beside the HF files, an export keeps the run's tokenizer as a run directory does:
gptkit.json records its identity (gpt2 / gpt4 by name, or tokenizer.model, copied, with its
sha256), so `generate` samples from the directory as from the run. A directory without it
(Hugging Face's own gpt2 and its fine-tunes) gets the GPT-2 tokenizer when its vocabulary is
GPT-2's 50,257 ids, and is refused otherwise: the ids of a tokenizer gptkit cannot read (Qwen's,
Llama's) mean nothing to it. `--init-from` (load_pretrained) asks more: the directory's tokenizer
must be the one the training data was prepared with.

Only safetensors are written or read (no pickle), and the directory's config.json is
checked against what our GPT computes before anything is built: each field it reads must
have its JSON type, and a variant we cannot reproduce exactly (another LayerNorm epsilon,
scaled rotary positions, sliding-window attention, biases in a Llama...) is refused with the
reason, never loaded as something else. The weights must then be exactly that GPT's tensors
(gpt.checkpoint.check_weights), so a small directory whose config asks for a huge model is
refused before the model is built.
`safetensors` is the optional extra `.[hf]`; `transformers` itself is needed only to use the
exported directory, not to write or read it.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path

import torch

from gptkit_base.files import atomic_copy, atomic_write, atomic_write_text, exclusive_directory, require_new_directory
from minbpe import ENDOFTEXT, Tokenizer, TokenizerError
from minbpe.hf_tokenizers import export_tokenizer
from pipeline.manifest import TokenizerInfo

from .checkpoint import check_weights, checkpoint_tokenizer, gpt_from_state, load_checkpoint, tokenizer_info
from .hf_configs import HFError, gpt_config_from_hf, hf_config, hf_state_dict, in_their_names, state_from_hf
from .model import GPT, GPTConfig

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
GENERATION_FILE = "generation_config.json"
GPTKIT_FILE = "gptkit.json"  # the tokenizer's identity (pipeline.manifest.TokenizerInfo)
GPT2_VOCAB = 50257
# the tokenizer of a directory that names none but has GPT-2's vocabulary
GPT2_TOKENIZER = TokenizerInfo("gpt2", GPT2_VOCAB, {ENDOFTEXT: GPT2_VOCAB - 1})


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


def export_hf(model: GPT, directory: str | os.PathLike, eos_token_id: int | None = None) -> list[Path]:
    """Write `directory` as a Hugging Face model (config.json, model.safetensors, generation_config.json): GPT-2,
    Qwen3 or Llama (gpt.hf_configs.architecture_of); the paths written. Each file is written whole or not at all."""
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


def read_hf_config(directory: str | os.PathLike) -> GPTConfig:
    """The GPTConfig of a Hugging Face model directory's config.json, once the directory is one gptkit reads
    (safetensors weights) and the config a model it computes exactly; HFError otherwise."""
    _safetensors()
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
    return gpt_config_from_hf(raw, directory / CONFIG_FILE)


def load_hf(directory: str | os.PathLike, device: str | torch.device = "cpu",
            config: GPTConfig | None = None) -> GPT:
    """The GPT of a Hugging Face directory (GPT-2, Qwen3 or Llama), in eval mode; HFError for anything else.
    `config`: its read_hf_config, when the caller has read it already."""
    if config is None:
        config = read_hf_config(directory)
    directory = Path(directory)
    try:
        tensors = _safetensors().load_file(str(directory / WEIGHTS_FILE))
    except Exception as e:  # safetensors raises its own SafetensorError for a damaged file
        raise HFError(f"{directory / WEIGHTS_FILE}: not a readable safetensors file ({e})") from None
    state = state_from_hf(tensors, config)
    try:
        check_weights(lambda: GPT(config), state, directory, HFError)
    except HFError as e:
        raise HFError(in_their_names(str(e), config)) from None
    model = GPT(config)
    model.load_state_dict(state)
    return model.to(device).eval()


def export_run(checkpoint: str | os.PathLike, directory: str | os.PathLike) -> tuple[list[Path], list[str]]:
    """A train-gpt checkpoint (a run directory or a .pt file) as a Hugging Face directory (GPT-2, Qwen3 or Llama),
    with its tokenizer (gptkit.json, tokenizer.model when it is a file, and tokenizer.json whenever HF's tokenizers
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


def hf_tokenizer(directory: str | os.PathLike, config: GPTConfig) -> TokenizerInfo | None:
    """The tokenizer whose ids a Hugging Face directory's model reads: its gptkit.json's; without one, GPT-2's for
    GPT-2's vocabulary; else None (unknown)."""
    directory = Path(directory)
    if not (directory / GPTKIT_FILE).is_file():
        return GPT2_TOKENIZER if config.vocab_size == GPT2_VOCAB else None
    try:
        return TokenizerInfo(**json.loads((directory / GPTKIT_FILE).read_text(encoding="utf-8"))["tokenizer"])
    except (KeyError, TypeError, UnicodeDecodeError, json.JSONDecodeError):
        raise HFError(f"{directory / GPTKIT_FILE}: not a gptkit tokenizer record") from None


def load_hf_for_sampling(directory: str | os.PathLike, device: str | torch.device = "cpu") -> tuple[GPT, Tokenizer]:
    """The model of a Hugging Face directory and its tokenizer (see the module doc)."""
    model = load_hf(directory, device)
    record = hf_tokenizer(directory, model.config)
    if record is None:
        raise HFError(f"{directory}: no {GPTKIT_FILE} names its tokenizer, and its {model.config.vocab_size} ids "
                      f"are not GPT-2's {GPT2_VOCAB}")
    tokenizer = record.load(directory)
    if tokenizer.n_vocab > model.config.vocab_size:
        raise HFError(f"{directory}: its tokenizer has {tokenizer.n_vocab} ids, the model {model.config.vocab_size}")
    return model, tokenizer


def load_pretrained(name_or_directory: str | os.PathLike, data_tokenizer: TokenizerInfo) -> GPT:
    """The model `--init-from` starts from (a directory, or a GPT-2 fetched by name: pretrained_directory), once
    its tokenizer is known to be the one the training data was prepared with (`data_tokenizer`): otherwise
    training would read the data's ids as another tokenizer's. A GPT-2 directory that names no tokenizer and
    has another vocabulary than GPT-2's (nanoGPT's padded 50,304 ids, a model of our own exported without its
    record) is taken at its word, as it always was."""
    directory = pretrained_directory(name_or_directory)
    config = read_hf_config(directory)
    record = hf_tokenizer(directory, config)
    if record is None and config.arch != "gpt2":
        raise HFError(f"{directory}: no {GPTKIT_FILE} names its tokenizer, and its {config.vocab_size} ids are not "
                      f"GPT-2's {GPT2_VOCAB}; gptkit trains only on ids of a tokenizer it knows")
    if record is not None:
        record.load(directory)  # the record is the tokenizer's own (its type, ids, specials; a file's sha256)
    if record is not None and record.identity() != data_tokenizer.identity():
        raise HFError(f"{directory}: its model reads the ids of {record.describe()}, and the data was prepared with "
                      f"{data_tokenizer.describe()}; prepare the data with the model's tokenizer")
    return load_hf(directory, config=config)


# the GPT-2 checkpoints `--init-from` fetches by name (nanoGPT's init_from), on the Hugging Face hub
HUB_MODELS = {name: f"openai-community/{name}" for name in ("gpt2", "gpt2-medium", "gpt2-large", "gpt2-xl")}


def pretrained_directory(name_or_directory: str | os.PathLike) -> Path:
    """A Hugging Face model directory: the one given, or gpt2 / gpt2-medium / gpt2-large / gpt2-xl fetched from
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
