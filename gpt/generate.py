"""Sampling from a GPT: temperature, top-k, top-p, a seed, a stop token, streaming, a KV cache.

generate() yields one token at a time, so a caller can print text as it comes;
stream_text() turns that into text, with the prompt policy (what a sample starts
from when there is no prompt) and incremental UTF-8 decoding (a token may end in
the middle of a character: its bytes wait for the next token).
With use_cache=True the model sees each new token once and reads the earlier
positions' keys and values from a KVCache; with use_cache=False it recomputes the
whole (cropped) context for every token, as nanoGPT does. Both give the same
tokens for the same seed.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F

from gptkit_base.errors import ConfigError
from minbpe import ENDOFTEXT, Tokenizer

from .checkpoint import CheckpointError
from .model import GPT, KVCache


@dataclass
class SampleConfig:
    max_new_tokens: int = 500
    temperature: float = 1.0  # 0 = greedy (always the most likely token)
    top_k: int | None = None  # keep only the k most likely tokens
    top_p: float | None = None  # keep the smallest set of tokens whose probability reaches p (nucleus)
    stop_token: int | None = None  # stop after a sample emits it (e.g. <|endoftext|>)
    use_cache: bool = True

    def __post_init__(self) -> None:
        if self.max_new_tokens < 0:
            raise ConfigError(f"max_new_tokens must be >= 0, got {self.max_new_tokens}")
        if not self.temperature >= 0:  # also refuses nan
            raise ConfigError(f"temperature must be >= 0, got {self.temperature}")
        if self.top_k is not None and self.top_k < 1:
            raise ConfigError(f"top_k must be >= 1, got {self.top_k}")
        if self.top_p is not None and not 0.0 < self.top_p <= 1.0:
            raise ConfigError(f"top_p must be in (0, 1], got {self.top_p}")


def sample_next(logits: torch.Tensor, cfg: SampleConfig, generator: torch.Generator | None) -> torch.Tensor:
    """The next token of each row, from logits of shape (B, vocab): a (B, 1) tensor."""
    logits = logits.float()
    if cfg.temperature == 0:
        return logits.argmax(dim=-1, keepdim=True)
    logits = logits / cfg.temperature
    if cfg.top_k is not None and cfg.top_k < logits.size(-1):
        kth = torch.topk(logits, cfg.top_k).values[:, [-1]]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if cfg.top_p is not None and cfg.top_p < 1.0:
        sorted_logits, order = torch.sort(logits, descending=True)
        cumulative = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
        # drop a token when the ones before it already reach top_p (the most likely always stays)
        drop_sorted = cumulative - sorted_logits.softmax(dim=-1) >= cfg.top_p
        logits = logits.masked_fill(drop_sorted.scatter(1, order, drop_sorted), float("-inf"))
    probs = F.softmax(logits, dim=-1)
    # finite weights can still overflow to inf logits, whose softmax is nan: multinomial then draws ids out of range
    if not bool(torch.isfinite(probs).all()):
        raise CheckpointError("the model's next-token probabilities are not numbers (its finite weights overflow to "
                         "inf or nan): the run diverged or the file is damaged")
    return torch.multinomial(probs, num_samples=1, generator=generator)


@torch.inference_mode()
def generate(
    model: GPT, idx: torch.Tensor, cfg: SampleConfig, generator: torch.Generator | None = None
) -> Iterator[torch.Tensor]:
    """Continue each row of idx (B, T) for up to cfg.max_new_tokens tokens, yielding each new (B,) column.

    Stops early once every row has emitted cfg.stop_token (rows that are done keep
    yielding it). Only the last block_size tokens are ever the context: once the sequence outgrows block_size
    the window slides, and the window is recomputed from position 0 (GPT-2's learned positions and the modern
    model's rotary ones alike), the cache rebuilt from it, so a cached sample is the uncached one.
    """
    if idx.dim() != 2 or idx.size(1) == 0:
        raise ValueError("generate needs a (batch, length) tensor with at least one token of prompt")
    was_training = model.training
    model.eval()
    block = model.config.block_size
    cache = KVCache(model.config) if cfg.use_cache else None
    done = torch.zeros(idx.size(0), dtype=torch.bool, device=idx.device)
    try:
        new = idx
        for _ in range(cfg.max_new_tokens):
            if cache is not None and cache.length + new.size(1) <= block:
                logits, _ = model(new, cache=cache)  # only the tokens the cache has not seen
            else:
                # no cache, or the window has slid: positions move, so recompute the window
                if cache is not None:
                    cache.length = 0
                logits, _ = model(idx[:, -block:], cache=cache)
            token = sample_next(logits[:, -1, :], cfg, generator)
            if cfg.stop_token is not None:
                token = token.masked_fill(done.unsqueeze(1), cfg.stop_token)
                done |= token.squeeze(1) == cfg.stop_token
            idx = torch.cat([idx, token], dim=1)
            new = token
            yield token.squeeze(1)
            if cfg.stop_token is not None and bool(done.all()):
                break
    finally:
        model.train(was_training)


def prompt_ids(tokenizer: Tokenizer, prompt: str | None) -> list[int]:
    """The ids a sample starts from: the prompt (special tokens in it allowed), else <|endoftext|>
    (a document boundary, as the data was prepared), else a newline for a character tokenizer."""
    if prompt:
        return tokenizer.encode(prompt, allowed_special="all")
    if ENDOFTEXT in tokenizer.special_tokens:
        return [tokenizer.special_tokens[ENDOFTEXT]]
    if "\n" in getattr(tokenizer, "chars", ()):
        return tokenizer.encode("\n")
    raise ConfigError("give a --prompt: this tokenizer has no <|endoftext|> token to start from")


def stream_text(model: GPT, tokenizer: Tokenizer, prompt: str | None, cfg: SampleConfig,
                generator: torch.Generator | None = None) -> Iterator[str]:
    """One sample continuing `prompt`, as text pieces in the order they are generated (the prompt not
    repeated). It ends at <|endoftext|> when the tokenizer has one; bytes that are not UTF-8 read as U+FFFD."""
    stop = tokenizer.special_tokens.get(ENDOFTEXT)
    ids = prompt_ids(tokenizer, prompt)
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    device = next(model.parameters()).device
    idx = torch.tensor([ids], dtype=torch.long, device=device)
    for token in generate(model, idx, replace(cfg, stop_token=stop), generator):
        t = int(token[0])
        if t == stop:
            break
        piece = decoder.decode(tokenizer.decode_bytes([t]))
        if piece:
            yield piece
    tail = decoder.decode(b"", final=True)
    if tail:
        yield tail
