"""Sampling from the character-level models: whole examples (names...) of a line dataset, or text of a stream.

    texts = sample(model, vocab, prompt="", num=20, length=data.sample_length,
                   sampling=SampleConfig(), generator=torch.Generator().manual_seed(42))

Every model is sampled the same way: from the boundary (or, in a stream, a newline)
and the prompt, draw the next character with gpt/generate.py's sample_next from the
model's logits for what came before (a window model sees the last block_size
characters, the boundary filling the context before the start; the GPT the whole
example), until each sample has drawn the boundary or `length` characters. A Mixture
draws from the log of its members' mixed probabilities.

The count table (BigramCounts) is sampled as the first lecture's loop does, so that
with one seed it gives the lecture's names: one example at a time, each until its
boundary however long (not cut at `length`), each step one
torch.multinomial(P[previous], 1, replacement=True, generator=g) over the float32
probability table P (not a softmax of its logarithms, which can differ in the last
bit), as long as the sampling is plain (temperature 1, no top-k, no top-p). With
seed 2147483647 on all of names.txt it draws the names the lecture's code draws with
the same torch (torch's multinomial decides them; docs/char-level.md, "Seed fidelity").
"""

from __future__ import annotations

import os

import torch
import torch.nn.functional as F
from torch import nn

from ..checkpoint import CheckpointError
from ..device import pick_device
from ..generate import SampleConfig, sample_next
from .data import BOUNDARY, CharVocab
from .models import BigramCounts, Mixture, char_model_from_state

# the count table samples until its boundary, as the lecture does (with +k smoothing every row can reach it,
# and the expected length is an example's); this bound only stops a table that cannot reach it
COUNTS_MAX_LENGTH = 10_000


def start_ids(vocab: CharVocab, prompt: str) -> list[int]:
    """What sampling starts from: the boundary (or a newline in a stream) and then the prompt's ids."""
    if vocab.boundary:
        return [BOUNDARY] + vocab.encode(prompt)
    return vocab.encode(prompt) if prompt else vocab.encode("\n") if "\n" in vocab.chars else [0]


def next_logits(model: nn.Module, seq: torch.Tensor) -> torch.Tensor:
    """Logits of the next id after each row of seq (B, t); a window model's context is padded with seq[:, 0]."""
    if isinstance(model, Mixture):  # log of the mixed probabilities
        return model.mix(torch.stack([F.log_softmax(next_logits(m, seq).double(), -1) for m in model.members])).float()
    layout = model.layout
    if layout.kind == "sequences":
        return model(seq[:, -layout.block_size :])[0][:, -1]
    context = seq[:, -layout.block_size :]
    if context.size(1) < layout.block_size:
        context = torch.cat([seq[:, :1].expand(-1, layout.block_size - context.size(1)), context], 1)
    return model(context)[0]


def next_ids(model: nn.Module, seq: torch.Tensor, sampling: SampleConfig,
             generator: torch.Generator | None) -> torch.Tensor:
    """The next id of each row of seq, (B, 1)."""
    if isinstance(model, BigramCounts) and sampling.temperature == 1 and sampling.top_k is None \
            and sampling.top_p is None:
        return torch.multinomial(model.probs()[seq[:, -1]], 1, replacement=True, generator=generator)
    return sample_next(next_logits(model, seq), sampling, generator)


@torch.no_grad()
def sample(model: nn.Module, vocab: CharVocab, prompt: str, num: int, length: int, sampling: SampleConfig,
           generator: torch.Generator | None = None) -> list[str]:
    """num continuations of prompt, up to `length` new characters (the count table: until its boundary), and
    never more than sampling.max_new_tokens; with a boundary, each ends at its first one."""
    was_training = model.training
    model.eval()
    start = start_ids(vocab, prompt)
    # the count table: one example at a time, as the lecture draws them; every other model: all at once
    counts = isinstance(model, BigramCounts) and vocab.boundary
    batches = [1] * num if counts else [num] if num else []
    length = min(COUNTS_MAX_LENGTH if counts else length, sampling.max_new_tokens)
    rows = [row for size in batches for row in _continue(model, start, size, length, vocab.boundary, sampling,
                                                         generator)]
    model.train(was_training)
    return [prompt + vocab.decode(row[: row.index(BOUNDARY)] if vocab.boundary and BOUNDARY in row else row)
            for row in rows]


def _continue(model: nn.Module, start: list[int], num: int, length: int, boundary: bool, sampling: SampleConfig,
              generator: torch.Generator | None) -> list[list[int]]:
    """num rows of up to `length` ids drawn after `start` (with a boundary, until each row has drawn one)."""
    device = next(iter(model.state_dict().values())).device
    seq = torch.tensor([start] * num, dtype=torch.long, device=device)
    done = torch.zeros(num, dtype=torch.bool, device=device)
    for _ in range(length):
        token = next_ids(model, seq, sampling, generator)
        seq = torch.cat([seq, token], 1)
        if boundary:
            done |= token.squeeze(1) == BOUNDARY
            if bool(done.all()):
                break
    return [row[len(start) :] for row in seq.tolist()]


def checkpoint_samples(checkpoint: str | os.PathLike, state: dict, prompt: str, sampling: SampleConfig, num: int,
                       seed: int, device: str = "cpu") -> list[str]:
    """num samples from a train-char checkpoint (state, read from `checkpoint`): whole examples of a line
    dataset (up to its longest example + 1), or sampling.max_new_tokens characters of a stream."""
    where = pick_device(device)
    model = char_model_from_state(state, checkpoint, where)
    vocab = CharVocab(state["chars"], state["boundary"])
    length = state.get("sample_length") if vocab.boundary else sampling.max_new_tokens
    if type(length) is not int or length < 1:  # (sample() bounds a large one by sampling.max_new_tokens)
        raise CheckpointError(f"{checkpoint}: its sample_length {length!r:.40} is not a whole number >= 1; the file "
                              "is corrupt or crafted")
    generator = torch.Generator(where).manual_seed(seed)
    return sample(model, vocab, prompt, num, length, sampling, generator)
