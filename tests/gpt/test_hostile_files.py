"""Files from elsewhere: a model file is built into exactly the tensors it holds, never into what its config asks
for, and every bad file (a config field of the wrong type, weights that are not finite, an edited tokenizer record,
a directory of pickled weights) ends in one clear line, in the library and in the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import asdict, replace
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from test_cli import error_line

from cli import main
from conftest import ROOT, shakespeare_data
from gpt.char.models import CHAR_KIND, REGISTRY, build_model, char_model_from_state
from gpt.checkpoint import CheckpointError, check_weights, gpt_from_state, save_checkpoint
from gpt.generate import SampleConfig
from gpt.hf import HFError, export_hf, export_run, load_hf, load_hf_for_sampling
from gpt.model import GPT, GPTConfig, KVCache
from gpt.runs import RunSampler
from gptkit_base.files import file_sha256
from minbpe import CharTokenizer
from pipeline.manifest import ManifestError, TokenizerInfo

SMALL = GPTConfig(vocab_size=65, block_size=8, n_layer=1, n_head=1, n_embd=8)
CHARS = "abcdefghijklmnopqrstuvwxyz"  # with the boundary, 27 symbols
GPT2_RECORD = {"type": "gpt2", "vocab_size": 50257, "special_tokens": {"<|endoftext|>": 50256}}


def gpt_run(run_dir: Path, config: GPTConfig, weights: dict) -> Path:
    """A train-gpt run directory holding `weights` under `config`."""
    run_dir.mkdir(parents=True, exist_ok=True)
    save_checkpoint(run_dir / "latest.pt", {"model_config": asdict(config), "model": weights, "step": 1,
                                            "tokenizer": GPT2_RECORD})
    return run_dir


def char_run(run_dir: Path, name: str, args: dict, weights: dict) -> Path:
    """A train-char run directory holding `weights` as the model `name` built from `args`."""
    run_dir.mkdir(parents=True, exist_ok=True)
    save_checkpoint(run_dir / "latest.pt", {"kind": CHAR_KIND, "model_name": name, "model_args": args,
                                            "model": weights, "chars": CHARS, "boundary": True, "sample_length": 12,
                                            "train_config": {}, "step": 1})
    return run_dir


def wide(weights: dict, n_embd: int, vocab: int, positions: int) -> dict:
    """A small model's weights whose embeddings are n_embd wide, as a crafted file holds them."""
    return {**weights, "transformer.wte.weight": torch.randn(vocab, n_embd),
            "transformer.wpe.weight": torch.randn(positions, n_embd)}


def char_gpt_args(n_embd: int) -> dict:
    return asdict(GPTConfig(27, 4, 1, 1, n_embd, bias=True, tie_weights=False, gelu="none"))


def char_modern_args(n_embd: int) -> dict:
    return asdict(GPTConfig(27, 4, 1, 1, n_embd, arch="modern"))


def craft_every_kind(root: Path) -> list[tuple[Path, str]]:
    """Directories of about 2 MB whose configs ask for models of gigabytes (a block of a GPT 8,192 wide is 3.2 GB),
    each with the start of the one line that refuses it: an HF directory, train-gpt runs (one whose tensors have
    the config's shapes but are views of one number), and train-char runs of a GPT, an MLP and an ensemble."""
    big = GPTConfig(vocab_size=65, block_size=1, n_layer=1, n_head=1, n_embd=8192)
    small = GPT(GPTConfig(65, 1, 1, 1, 8)).state_dict()
    hf = root / "hf"
    export_hf(GPT(GPTConfig(65, 1, 1, 1, 8)), hf)
    from safetensors.torch import load_file, save_file
    tensors = load_file(hf / "model.safetensors")
    save_file(wide(tensors, 8192, 65, 1), hf / "model.safetensors")
    config = json.loads((hf / "config.json").read_text())
    (hf / "config.json").write_text(json.dumps({**config, "n_embd": 8192}))
    run = gpt_run(root / "gpt", big, wide(small, 8192, 65, 1))
    # the big GPT's shapes: the small one's (65 ids, 1 position, 8 wide) with every width (8, 24, 32) x 1024
    views = {name: torch.zeros(1).expand([d * 1024 if d in (8, 24, 32) else d for d in t.shape])
             for name, t in small.items()}
    views["lm_head.weight"] = views["transformer.wte.weight"]  # tied, as a real file holds it
    repeated = gpt_run(root / "views", big, views)
    char_gpt = build_model("gpt", char_gpt_args(8)).state_dict()
    char_gpt = {**char_gpt, "transformer.wte.weight": torch.randn(27, 8192)}
    mlp_args = {"vocab_size": 27, "block_size": 3, "n_embd": 10, "n_hidden": 10**8}
    mlp = build_model("mlp", {**mlp_args, "n_hidden": 8}).state_dict()
    members = {"members": [{"model_name": "mlp", "model_args": mlp_args}]}
    return [(hf, f"{hf}: the file holds transformer.h.0.ln_1.weight of shape (8,), the config makes (8192,)"),
            (run, f"{run}: the file holds transformer.h.0.ln_1.weight of shape (8,), the config makes (8192,)"),
            (repeated, f"{repeated}: the file holds transformer.wte.weight of shape (65, 8192) without its data"),
            (char_run(root / "char-gpt", "gpt", char_gpt_args(8192), char_gpt),
             f"{root / 'char-gpt'}: the file holds transformer.wpe.weight of shape (4, 8), the config makes (4, 8192)"),
            (char_run(root / "mlp", "mlp", mlp_args, mlp),
             f"{root / 'mlp'}: the file holds hidden.weight of shape (8, 30), the config makes (100000000, 30)"),
            (char_run(root / "ensemble", "ensemble", members, {f"members.0.{k}": v for k, v in mlp.items()}
                      | {"weights": torch.ones(1, dtype=torch.float64)}),
             f"{root / 'ensemble'}: the file holds members.0.hidden.weight of shape (8, 30), the config makes "
             f"(100000000, 30)")]


def refusal(path: Path) -> str:
    """The one line `generate` stops with on `path` (RunSampler, as the CLI and the playground load a run)."""
    try:
        sampler = RunSampler(path, "cpu")
        next(sampler.samples("", SampleConfig(max_new_tokens=4), 1, 1))  # a char run's model loads here
    except ValueError as e:
        return str(e)
    raise AssertionError(f"{path} was loaded")


MEASURE = """
import json, resource, sys, tempfile
from pathlib import Path
sys.path[:0] = ["tests", "tests/gpt"]
import test_hostile_files as t
with tempfile.TemporaryDirectory() as root:
    crafted = t.craft_every_kind(Path(root))
    status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    # a safety net: a loader that allocated what the configs ask for would fail here, not take the machine
    room = int(status["VmSize"].split()[0]) * 1024 + 2 * 2**30
    resource.setrlimit(resource.RLIMIT_AS, (room, resource.getrlimit(resource.RLIMIT_AS)[1]))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    lines = [t.refusal(path) for path, _ in crafted]
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"lines": lines, "expected": [line for _, line in crafted], "before_kb": before,
                      "after_kb": after, "dynamo": "torch._dynamo" in sys.modules}))
"""


def test_a_small_file_never_builds_a_huge_model():
    """In a fresh process, six ~2 MB files whose configs ask for 3.4 GB (a GPT 8,192 wide) up to 12 GB (an MLP of
    10**8 hidden units) are each refused with one line naming the first tensor that differs, and the process's peak
    resident memory grows by less than 200 MB over what importing torch and writing the files took (about 400 MB)."""
    run = subprocess.run([sys.executable, "-c", MEASURE], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    for line, expected in zip(result["lines"], result["expected"], strict=True):
        assert line.startswith(expected), (line, expected)
    assert result["after_kb"] - result["before_kb"] < 200 * 1024, result
    # the meta builds ran no initialiser: the first would have imported torch._dynamo (800 modules, a second)
    assert not result["dynamo"]


def test_the_file_must_hold_exactly_the_models_tensors(tmp_path):
    weights = GPT(SMALL).state_dict()
    assert gpt_from_state({"model_config": asdict(SMALL), "model": weights}, "fine.pt").config == SMALL
    untied = GPT(GPTConfig(**{**asdict(SMALL), "tie_weights": False})).state_dict()
    c_attn = "transformer.h.0.attn.c_attn.weight"
    for change, message in [
        ({c_attn: None}, r"the config makes transformer.h.0.attn.c_attn.weight of shape \(24, 8\), the file does "
                         "not hold it"),
        ({"extra.weight": torch.zeros(1)}, "the file holds extra.weight, which the config does not make"),
        ({c_attn: torch.zeros(24, 9)}, r"the file holds transformer.h.0.attn.c_attn.weight of shape \(24, 9\), "
                                       r"the config makes \(24, 8\)"),
        ({c_attn: torch.zeros(24, 8, dtype=torch.int64)}, "holds transformer.h.0.attn.c_attn.weight as torch.int64, "
                                                          "the model needs floating point"),
        ({c_attn: torch.zeros(24, 8, device="meta")}, r"of shape \(24, 8\) without its data"),
        ({c_attn: torch.zeros(1).expand(24, 8)}, r"of shape \(24, 8\) without its data \(4 bytes\)"),
        ({c_attn: torch.zeros(24 * 8 + 1)[1:].view(24, 8)}, None),  # a view with all its data is fine
    ]:
        changed = {k: v for k, v in {**weights, **change}.items() if v is not None}
        state = {"model_config": asdict(SMALL), "model": changed}
        if message is None:
            assert torch.equal(gpt_from_state(state, "x.pt").state_dict()[c_attn], change[c_attn])
            continue
        with pytest.raises(CheckpointError, match=message):
            gpt_from_state(state, "x.pt")
    # one storage serves two names only where the model ties them: an untied head may not repeat the embedding
    shared = {**untied, "lm_head.weight": untied["transformer.wte.weight"]}
    untied_config = {**asdict(SMALL), "tie_weights": False}
    with pytest.raises(CheckpointError, match="lm_head.weight shares its data with transformer.wte.weight"):
        gpt_from_state({"model_config": untied_config, "model": shared}, "x.pt")
    layers = GPTConfig(**{**asdict(SMALL), "n_layer": 2})
    one_layer = {k: v for k, v in GPT(layers).state_dict().items() if not k.startswith("transformer.h.1.")}
    block = {k.replace("h.0.", "h.1."): v for k, v in one_layer.items() if k.startswith("transformer.h.0.")}
    with pytest.raises(CheckpointError, match="transformer.h.1.ln_1.weight shares its data with "
                                              "transformer.h.0.ln_1.weight"):
        gpt_from_state({"model_config": asdict(layers), "model": {**one_layer, **block}}, "x.pt")


# each kind of char model: arguments of a small one, and arguments that ask the same file for a huge one: by a
# size (refused at the first tensor that differs) or by a count the constructor loops over (refused by the meta
# build's budget; the counts are kept small enough that a loader without one fails here in seconds, not hangs)
LARGER = "the file holds"
LOOPS = "its config asks for a far larger model than the"
KINDS = {
    "bigram-counts": ({"vocab_size": 27}, {"vocab_size": 10**6}, LARGER),
    "bigram-nn": ({"vocab_size": 27}, {"vocab_size": 10**6}, LARGER),
    "ngram": ({"vocab_size": 27, "block_size": 2}, {"vocab_size": 1, "block_size": 10**4}, LOOPS),
    "mlp": ({"vocab_size": 27, "block_size": 3, "n_embd": 4, "n_hidden": 8},
            {"vocab_size": 27, "block_size": 3, "n_embd": 4, "n_hidden": 10**9}, LARGER),
    "mlp-bn": ({"vocab_size": 27, "block_size": 3, "n_embd": 4, "n_hidden": 8, "batch_norm": True},
               {"vocab_size": 27, "block_size": 10**9, "n_embd": 4, "n_hidden": 8, "batch_norm": True}, LARGER),
    "wavenet": ({"vocab_size": 27, "block_size": 4, "n_embd": 4, "n_hidden": 8},
                {"vocab_size": 27, "block_size": 2**(10**4), "n_embd": 4, "n_hidden": 8}, LOOPS),
    "gpt": (char_gpt_args(8), {**char_gpt_args(8), "n_layer": 10**4}, LOOPS),
    "gpt-modern": (char_modern_args(8), {**char_modern_args(8), "n_embd": 8192}, LARGER),
}


@pytest.mark.parametrize("kind", [*KINDS, "ensemble"])
def test_every_char_model_is_built_only_from_what_its_file_holds(kind):
    if kind == "ensemble":
        members = [{"model_name": name, "model_args": KINDS[name][0]} for name in ("ngram", "mlp")]
        small, big, why = {"members": members}, {"members": members * 10**4}, LOOPS
    else:
        small, big, why = KINDS[kind]
    weights = build_model(kind, small).state_dict()
    good = {"kind": CHAR_KIND, "model_name": kind, "model_args": small, "model": weights, "chars": CHARS,
            "boundary": True}
    assert type(char_model_from_state(good, "ok.pt")) is type(build_model(kind, small))
    with pytest.raises(CheckpointError, match=f"^crafted.pt: {why}"):
        char_model_from_state({**good, "model_args": big}, "crafted.pt")


def test_the_ngram_tables_and_every_models_symbols_come_from_the_file():
    args = KINDS["ngram"][0]
    weights = build_model("ngram", args).state_dict()
    weights.update(keys_1=torch.arange(5), counts_1=torch.ones(5, dtype=torch.float64))
    good = {"kind": CHAR_KIND, "model_name": "ngram", "model_args": args, "model": weights, "chars": CHARS,
            "boundary": True}
    assert len(char_model_from_state(good, "ok.pt").keys_1) == 5  # its tables are as long as the file's
    with pytest.raises(CheckpointError, match=r"the file holds counts_1 of shape \(4,\), the config makes \(5,\)"):
        char_model_from_state({**good, "model": {**weights, "counts_1": torch.ones(4, dtype=torch.float64)}}, "x.pt")
    # nothing in an n-gram's file bounds its vocab_size, which sampling would allocate rows of
    unigram = {**good, "model_args": {"vocab_size": 10**12, "block_size": 0},
               "model": build_model("ngram", {"vocab_size": 27, "block_size": 0}).state_dict()}
    with pytest.raises(CheckpointError, match="its model predicts 1000000000000 symbols, its characters make 27"):
        char_model_from_state(unigram, "x.pt")
    with pytest.raises(CheckpointError, match="the checkpoint's characters are missing or malformed"):
        char_model_from_state({**good, "chars": None}, "x.pt")


def test_every_tensor_a_model_allocates_is_in_its_file():
    """check_weights bounds a model by its state_dict: no model may allocate a buffer that is not saved with it."""
    models = [GPT(SMALL)] + [build_model(name, KINDS[name][0]) for name in KINDS]
    assert set(REGISTRY) == {*KINDS, "ensemble"}
    for model in models:
        assert {name for name, _ in model.named_buffers()} <= set(model.state_dict())


def test_the_kv_cache_follows_the_tokens_not_block_size():
    """A file's block_size may be far beyond any sample: the cache holds the positions seen, doubling as they grow."""
    model = GPT(GPTConfig(vocab_size=65, block_size=10**6, n_layer=2, n_head=2, n_embd=8)).eval()
    cache = KVCache(model.config)
    with torch.no_grad():
        model(torch.zeros(1, 5, dtype=torch.long), cache=cache)
        assert cache.k.shape == (2, 1, 2, KVCache.MIN_POSITIONS, 4)
        for _ in range(KVCache.MIN_POSITIONS):
            model(torch.zeros(1, 1, dtype=torch.long), cache=cache)
    assert cache.length == 69 and cache.k.shape == cache.v.shape == (2, 1, 2, 2 * KVCache.MIN_POSITIONS, 4)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return shakespeare_data(tmp_path_factory.mktemp("data"), 2_000)


def hf_directory(path: Path, **config) -> Path:
    export_hf(GPT(SMALL), path)
    raw = json.loads((path / "config.json").read_text())
    (path / "config.json").write_text(json.dumps({**raw, **config}))
    return path


@pytest.mark.parametrize("field, value, message", [
    ("layer_norm_epsilon", "x", 'layer_norm_epsilon is "x", not a number'),
    ("activation_function", ["gelu"], r'activation_function is \["gelu"\], not text'),
    ("n_embd", "8", 'n_embd is "8", not a whole number'),
    ("vocab_size", 1.5, "vocab_size is 1.5, not a whole number"),
    ("n_layer", True, "n_layer is true, not a whole number"),
    ("tie_word_embeddings", "yes", 'tie_word_embeddings is "yes", not true or false'),
    ("n_inner", "32", 'n_inner is "32", not a whole number or null'),
])
def test_a_config_field_of_the_wrong_type_is_one_line(tmp_path, data, field, value, message):
    directory = hf_directory(tmp_path / "hf", **{field: value})
    with pytest.raises(HFError, match=f"^{directory / 'config.json'}: {message}$"):
        load_hf(directory)
    generate = CliRunner().invoke(main, ["generate", "--checkpoint", str(directory), "--device", "cpu"])
    assert error_line(generate) == f"Error: {directory / 'config.json'}: {message}".replace("\\", "")
    train = CliRunner().invoke(main, ["train-gpt", "--data", str(data), "--init-from", str(directory),
                                      "--out", str(tmp_path / "run"), "--device", "cpu"])
    assert error_line(train) == f"Error: {directory / 'config.json'}: {message}".replace("\\", "")


def with_nan(weights: dict, name: str) -> dict:
    poisoned = weights[name].clone()
    poisoned.view(-1)[0] = float("nan")
    return {**weights, name: poisoned}


def test_weights_that_are_not_finite_are_one_line(tmp_path):
    c_attn = "transformer.h.0.attn.c_attn.weight"
    run = gpt_run(tmp_path / "gpt", SMALL, with_nan(GPT(SMALL).state_dict(), c_attn))
    mlp = build_model("mlp", KINDS["mlp"][0]).state_dict()
    mlp["head.bias"][3] = float("inf")
    char = char_run(tmp_path / "char", "mlp", KINDS["mlp"][0], mlp)
    hf = tmp_path / "hf"
    export_hf(GPT(SMALL), hf)
    from safetensors.torch import load_file, save_file
    save_file(with_nan(load_file(hf / "model.safetensors"), "transformer.h.0.mlp.c_fc.weight"),
              hf / "model.safetensors")
    for path, name in [(run, c_attn), (char, "head.bias"), (hf, "transformer.h.0.mlp.c_fc.weight")]:
        line = f"{path}: {name} holds NaN or infinite values; the run diverged or the file is damaged"
        assert refusal(path) == line  # the playground loads runs with RunSampler too
        result = CliRunner().invoke(main, ["generate", "--checkpoint", str(path), "--device", "cpu"])
        assert error_line(result) == f"Error: {line}"
    # a count table without smoothing gives a pair never seen a log-probability of -inf: that is a probability
    counts = build_model("bigram-counts", {"vocab_size": 27, "smoothing": 0.0})
    counts.fit(torch.arange(27).unsqueeze(1), torch.ones(27, dtype=torch.long))  # every symbol followed by 1
    assert counts.log_probs.isneginf().any()
    state = {"kind": CHAR_KIND, "model_name": "bigram-counts", "model_args": {"vocab_size": 27, "smoothing": 0.0},
             "model": counts.state_dict(), "chars": CHARS, "boundary": True}
    assert torch.equal(char_model_from_state(state, "ok.pt").log_probs, counts.log_probs)
    with pytest.raises(CheckpointError, match="log_probs holds NaN or infinite values"):
        char_model_from_state({**state, "model": with_nan(counts.state_dict(), "log_probs")}, "nan.pt")


def test_finite_weights_whose_logits_overflow_are_one_line(tmp_path):
    big = replace(SMALL, vocab_size=50257)  # GPT2_RECORD's ids
    weights = GPT(big).state_dict()
    weights["transformer.wte.weight"] *= 1e37  # finite, and the tied head's logits overflow to inf
    run = gpt_run(tmp_path / "gpt", big, weights)
    result = CliRunner().invoke(main, ["generate", "--checkpoint", str(run), "--device", "cpu"])
    assert error_line(result) == ("Error: the model's next-token probabilities are not numbers (its finite weights "
                                  "overflow to inf or nan): the run diverged or the file is damaged")


def test_a_tokenizer_with_more_ids_than_the_model_is_one_line(tmp_path):
    run = gpt_run(tmp_path / "gpt", SMALL, GPT(SMALL).state_dict())  # 65 ids embedded, GPT-2's 50,257 recorded
    line = f"{run}: its tokenizer has 50257 ids, the model embeds 65; the file is corrupt or crafted"
    assert refusal(run) == line
    assert error_line(CliRunner().invoke(main, ["generate", "--checkpoint", str(run), "--device", "cpu"])) == \
        f"Error: {line}"
    with pytest.raises(CheckpointError, match="its tokenizer has 50257 ids, the model embeds 65"):
        export_run(run, tmp_path / "hf")  # an export would pair them in the Hugging Face world too
    assert not (tmp_path / "hf").exists()


@pytest.mark.parametrize("length", [None, "12", 0])
def test_a_char_runs_sample_length_is_checked(tmp_path, length):
    run = char_run(tmp_path / "char", "mlp", KINDS["mlp"][0], build_model("mlp", KINDS["mlp"][0]).state_dict())
    state = torch.load(run / "latest.pt", weights_only=True)
    if length is None:
        del state["sample_length"]
    else:
        state["sample_length"] = length
    torch.save(state, run / "latest.pt")
    result = CliRunner().invoke(main, ["generate", "--checkpoint", str(run), "--device", "cpu"])
    assert error_line(result) == (f"Error: {run}: its sample_length {length!r} is not a whole number >= 1; the file "
                                  "is corrupt or crafted")


def test_a_directory_of_pickled_weights_gets_the_hf_answer_in_generate_too(tmp_path, data):
    directory = hf_directory(tmp_path / "hf")
    (directory / "model.safetensors").rename(directory / "pytorch_model.bin")
    line = (f"Error: {directory}: not a Hugging Face model directory (it needs config.json and model.safetensors; "
            "pickled pytorch_model.bin files are not read)")
    generate = CliRunner().invoke(main, ["generate", "--checkpoint", str(directory), "--device", "cpu"])
    train = CliRunner().invoke(main, ["train-gpt", "--data", str(data), "--init-from", str(directory),
                                      "--out", str(tmp_path / "run"), "--device", "cpu"])
    assert error_line(generate) == error_line(train) == line


def test_a_tokenizer_record_reads_only_gpt2_gpt4_or_the_file_beside_it(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    tokenizer = CharTokenizer("abc")
    tokenizer.save(str(elsewhere / "tokenizer"))
    own = {"vocab_size": tokenizer.n_vocab, "special_tokens": {}}
    sha = file_sha256(elsewhere / "tokenizer.model")
    beside = TokenizerInfo("char", **own, sha256=sha, file="tokenizer.model")
    assert beside.load(elsewhere).n_vocab == 3
    assert TokenizerInfo(**GPT2_RECORD).load(tmp_path).n_vocab == 50257
    run = tmp_path / "run"
    run.mkdir()
    for record, why in [
        (TokenizerInfo(str(elsewhere / "tokenizer.model"), **own), "type '.*tokenizer.model', file None"),
        (TokenizerInfo("char", **own, sha256=sha, file="../elsewhere/tokenizer.model"),
         "type 'char', file '../elsewhere/"),
        (TokenizerInfo("gpt2", **own, sha256=sha, file="tokenizer.model"), "type 'gpt2', file 'tokenizer.model'"),
        (TokenizerInfo(["gpt2"], **own), r"type \['gpt2'\]"),
    ]:
        with pytest.raises(ManifestError, match=f"^{run}: the tokenizer record \\({why}.*is not one gptkit reads"):
            record.load(run)
    with pytest.raises(ManifestError, match="the tokenizer record's type is 'regex', but the tokenizer .regex. has "
                                            "'char'"):
        TokenizerInfo("regex", **own, sha256=sha, file="tokenizer.model").load(elsewhere)
    # an exported model's gptkit.json, and a run's checkpoint, are read by the same rule
    hf = hf_directory(tmp_path / "hf")
    (hf / "gptkit.json").write_text(json.dumps({"tokenizer": {"type": str(elsewhere / "tokenizer.model"), **own}}))
    with pytest.raises(ManifestError, match=f"^{hf}: the tokenizer record .type '{elsewhere}"):
        load_hf_for_sampling(hf)
    gpt_run(run, SMALL, GPT(SMALL).state_dict())
    state = torch.load(run / "latest.pt", weights_only=True)
    save_checkpoint(run / "latest.pt", {**state, "tokenizer": {"type": str(elsewhere / "tokenizer.model"), **own}})
    assert refusal(run).startswith(f"{run}: the tokenizer record (type '{elsewhere}")


def test_check_weights_names_the_source_with_the_callers_error():
    with pytest.raises(HFError, match="^some/dir: its weights are not named tensors$"):
        check_weights(lambda: GPT(SMALL), {"a": 1}, "some/dir", HFError)
