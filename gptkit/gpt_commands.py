"""The GPT's commands: train-gpt, eval, export (to Hugging Face) and generate (from any kind of run)."""

from __future__ import annotations

import json
import sys

import click

import minbpe
from gpt.config import DTYPES, OPTIMIZERS, PRESETS, TrainConfig
from gpt.device import Launch
from gpt.generate import SampleConfig
from gpt.hf import export_run
from gpt.model import ARCHS, GELU_ALIASES, GELUS
from gpt.plan import plan_training
from gpt.progress import StepBar
from gpt.runs import RunSampler, latest_run
from gpt.train import evaluate_checkpoint, evaluation_line, kept_when_stopped, train
from gptkit.options import clean_errors, setting_options, with_progress
from gptkit_base.errors import NotUTF8Error
from gptkit_base.files import require_new_directory
from minbpe.hf_tokenizers import export_tokenizer


@click.command("train-gpt")
@click.option("--data", type=click.Path(file_okay=False), help="A prepared data directory (python cli.py prepare).")
@click.option("--input", "inputs", multiple=True, help="Text file(s) to prepare on the fly into OUT/data.")
@click.option("--tokenizer", "spec", default="char", show_default=True,
              help="With --input: char, gpt2, gpt4 or a .model file.")
@click.option("--out", default=None, help="Run directory (checkpoints, metrics.jsonl, loss.png). "
              "[default: out/<preset or 'run'>]")
@click.option("--preset", type=click.Choice(list(PRESETS)), default=None,
              help="A nanoGPT recipe; flags override its values.")
@setting_options(TrainConfig, ["arch", "n_layer", "n_head", "n_kv_head", "n_embd", "block_size", "batch_size",
                              "grad_accum", "max_iters", "lr", "min_lr", "warmup_iters", "lr_decay_iters", "beta2",
                              "weight_decay", "optimizer", "muon_lr", "muon_momentum", "muon_weight_decay", "dropout",
                              "gelu", "eval_interval", "eval_iters", "stop_at_val", "device", "dtype", "seed",
                              "fsdp"],
                 types={"arch": click.Choice(ARCHS), "gelu": click.Choice([*GELUS, *GELU_ALIASES]),
                        "dtype": click.Choice(DTYPES), "optimizer": click.Choice(OPTIMIZERS)})
@click.option("--compile/--no-compile", "compile_", default=None, help="torch.compile the model.")
@click.option("--resume", is_flag=True,
              help="Continue OUT's run exactly where it stopped, with its settings; flags may change max-iters, the "
              "learning-rate schedule, evaluation, device, dtype and compile, not the model's shape, batch-size, "
              "grad-accum, seed, optimizer, fsdp or the data.")
@click.option("--overwrite", is_flag=True, help="Start afresh in an OUT that holds a run (replacing it).")
@click.option("--init-from", default=None, help="Start from a pretrained model: a Hugging Face GPT-2, Qwen3 or "
              "Llama directory, or gpt2, gpt2-medium, gpt2-large, gpt2-xl (fetched from the hub); its architecture "
              "and shape, --block-size may shorten it.")
@click.option("--samples", type=click.IntRange(min=0), default=1, show_default=True,
              help="Samples to print at the end.")
@clean_errors
def train_gpt(data, inputs, spec, out, preset, compile_, resume, overwrite, init_from, samples, **flags) -> None:
    """Train a GPT on prepared shards (or on text files, prepared on the fly).

    With no arguments, trains a small character-level GPT on the bundled Tiny
    Shakespeare (nanoGPT's CPU recipe, a few minutes on a laptop) and prints a sample.

    \b
    Examples:
      python cli.py train-gpt
      python cli.py train-gpt --data out/owt --preset gpt2-124m --compile
      python cli.py train-gpt --input notes.txt --tokenizer gpt2 --max-iters 500 --out out/notes
      torchrun --nproc_per_node 8 cli.py train-gpt --data out/owt --preset gpt2-124m
    """
    plan = plan_training(data, inputs, spec, preset, out, resume, overwrite, init_from, compile=compile_, **flags)
    for note in plan.notes:
        click.echo(note, err=True)
    if (prepared := plan.prepare_data()) is not None:
        click.echo(prepared, err=True)
    cfg, master = plan.config, Launch.from_env().master
    result = with_progress(lambda bar: train(cfg, bar), StepBar(cfg.max_iters, disable=not master),
                           kept_when_stopped(cfg))
    if not master:
        return
    for line in result.lines(cfg.eval_iters):
        click.echo(line)
    for i in range(samples):
        click.echo(f"--- sample {i + 1} ---")
        stream_samples(result.out, None, SampleConfig(max_new_tokens=300, temperature=0.8, top_k=200),
                       1, cfg.seed + i, "cpu")


def stream_samples(checkpoint: str, prompt: str | None, sample: SampleConfig, num_samples: int, seed: int,
                   device: str) -> None:
    """Print samples from a checkpoint as they are generated: train-gpt's (or a Hugging Face
    directory's) streamed token by token, train-char's as whole examples (names...) of a line dataset,
    or text of a stream."""
    sampler = RunSampler(checkpoint, device)
    if sampler.warning:
        click.echo(f"warning: {sampler.warning}", err=True)
    for i, pieces in enumerate(sampler.samples(prompt, sample, num_samples, seed)):
        if num_samples > 1 and sampler.streams:  # a character model's samples are one per line
            click.echo(f"--- sample {i + 1} ---")
        sys.stdout.write(prompt or "")
        for piece in pieces:
            sys.stdout.write(piece)
            sys.stdout.flush()
        sys.stdout.write("\n")


@click.command("eval")
@click.option("--checkpoint", required=True, help="A train-gpt run directory (its latest.pt) or a .pt file.")
@click.option("--data", required=True, type=click.Path(file_okay=False),
              help="A data directory prepared with the run's tokenizer.")
@click.option("--split", default="val", show_default=True, help="The split to score.")
@click.option("--max-batches", type=click.IntRange(min=1), default=None, help="Score only this many batches "
              "[default: the whole split].")
@click.option("--batch-size", type=click.IntRange(min=1), default=None, help="[default: the run's]")
@click.option("--device", default="auto", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead.")
@clean_errors
def eval_command(checkpoint, data, split, max_batches, batch_size, device, as_json) -> None:
    """Score a trained GPT on prepared data: loss (nats per token) and bits per byte.

    Bits per byte divides by the text's bytes, not its tokens, so runs with different
    tokenizers compare.

    \b
    Example:
      python cli.py eval --checkpoint out/shakespeare-char-cpu --data out/shakespeare-char-cpu/data
    """
    result = evaluate_checkpoint(checkpoint, data, split, max_batches, batch_size, device)
    if as_json:
        click.echo(json.dumps({"checkpoint": str(checkpoint), "data": str(data), **result}))
    else:
        click.echo(evaluation_line(result, checkpoint, data, max_batches))


@click.command("export")
@click.option("--checkpoint", default=None, help="A train-gpt run directory (its latest.pt) or a .pt file.")
@click.option("--tokenizer", "spec", default=None, help="Or only a tokenizer: gpt2, gpt4 or a .model file.")
@click.option("--output", required=True, help="The directory to write (new or empty).")
@clean_errors
def export(checkpoint, spec, output) -> None:
    """Write a train-gpt run as a Hugging Face model directory, or a tokenizer as tokenizer.json.

    A run, as GPT-2 (or Qwen3, for --arch modern): config.json, model.safetensors and
    generation_config.json, which `transformers.AutoModelForCausalLM.from_pretrained(OUTPUT)`
    loads with this model's logits, and its tokenizer. A tokenizer: tokenizer.json and tokenizer_config.json
    (`AutoTokenizer.from_pretrained(OUTPUT)` gives its ids) and tiktoken's rank file. Each
    is checked to give exactly our ids, or refused with the reason. Needs the extra:
    pip install 'gptkit[hf]'.

    \b
    Examples:
      python cli.py export --checkpoint out/shakespeare-char-cpu --output out/hf-shakespeare
      python cli.py export --tokenizer tok.model --output out/hf-tok
    """
    if (checkpoint is None) == (spec is None):
        raise click.UsageError("give --checkpoint (a run) or --tokenizer, one of them")
    if checkpoint is not None:
        written, notes = export_run(checkpoint, output)
    else:
        tokenizer = minbpe.get_tokenizer(spec)
        require_new_directory(output)
        written, notes = export_tokenizer(tokenizer, output)
    click.echo(f"wrote {output}: {', '.join(p.name for p in written)}")
    for note in notes:
        click.echo(f"note: {note}", err=True)


@click.command("generate")
@click.option("--checkpoint", default=None,
              help="A run directory (its latest.pt), a checkpoint .pt file, or a Hugging Face GPT-2, Qwen3 or Llama "
              "directory [default: the most recently written run under out/].")
@click.option("--prompt", default=None, help="Text to continue.")
@click.option("--prompt-file", type=click.File("r", encoding="utf-8"), default=None,
              help="Read the prompt from a file ('-' for stdin).")
@click.option("--max-new-tokens", type=click.IntRange(min=0), default=500, show_default=True)
@click.option("--temperature", type=float, default=0.8, show_default=True, help="0 = always the likeliest token.")
@click.option("--top-k", type=int, default=200, show_default=True, help="Sample among the k likeliest (0 = all).")
@click.option("--top-p", type=float, default=None, help="Sample among the likeliest tokens up to this mass.")
@click.option("--num-samples", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--seed", type=int, default=1337, show_default=True)
@click.option("--device", default="auto", show_default=True)
@click.option("--no-cache", is_flag=True, help="Recompute the whole context for every token (no KV cache).")
@clean_errors
def generate_command(checkpoint, prompt, prompt_file, max_new_tokens, temperature, top_k, top_p, num_samples, seed,
                     device, no_cache) -> None:
    """Sample text from a trained GPT, streamed as it is generated.

    \b
    Examples:
      python cli.py generate --checkpoint out/shakespeare-char-cpu --prompt "ROMEO:"
      echo "Once upon a time" | python cli.py generate --checkpoint out/run --prompt-file - --top-p 0.9
    """
    if prompt is not None and prompt_file is not None:
        raise click.ClickException("give --prompt or --prompt-file, not both")
    if checkpoint is None:
        checkpoint = latest_run("out")
        if checkpoint is None:
            raise click.UsageError("no --checkpoint, and no run under out/: train one (gptkit train-gpt) first")
        click.echo(f"sampling from {checkpoint} (the most recent run under out/)", err=True)
    if prompt_file is not None:
        try:
            prompt = prompt_file.read()
        except UnicodeDecodeError as e:
            raise NotUTF8Error.reading(prompt_file.name, e) from None
    sample = SampleConfig(max_new_tokens, temperature, top_k or None, top_p, use_cache=not no_cache)
    stream_samples(checkpoint, prompt, sample, num_samples, seed, device)
