"""Racing two training recipes on equal time, and scoring a model under both evaluation protocols.

The training chapter gives the article's sliding windows and streaming truncated BPTT the same
number of training seconds and draws validation perplexity against time. `run_recipe` does it
with the package's own `fit`, called once per piece of text, so the loop itself is unchanged:

    pieces:   |-- first --|------ 2x ------|------------ 4x ------------| ... (then from the top)
    fit:        1 epoch     1 epoch           1 epoch                       until `seconds` are spent
    validate:            ^                ^                             ^

The pieces double in size: many points while perplexity falls fast, few later, and few in all
whatever the machine's speed. Model and optimizer are carried from piece to piece.

`score_both_ways` scores one model under the two protocols the recipes train with: windows of
`window_len` tokens, each from a blank state, and streams with the state carried throughout.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import asdict, replace
from typing import Iterator

import torch
from torch import nn

from .data import as_ids
from .loss import perplexity
from .train import TrainConfig, evaluate, fit, make_batches, make_optimizer

__all__ = ["check_window_scorer", "growing_pieces", "run_recipe", "score_both_ways", "text_per_step",
           "unigram_perplexity"]


def text_per_step(config: TrainConfig) -> int:
    """Tokens of *new* text one training step reads: a batch of windows slides `batch_size`
    tokens further into the corpus (each window overlaps the next by T-1 tokens); a stream
    batch reads `batch_size * seq_len` fresh tokens."""
    return config.batch_size * (config.seq_len if config.recipe == "stream" else 1)


def growing_pieces(ids: torch.Tensor, first: int) -> Iterator[torch.Tensor]:
    """Consecutive slices of `ids`: `first` tokens, then twice as many each time (at most all of
    `ids`); when the text runs out, start again at the top. Never ends."""
    ids = as_ids(ids)
    if not isinstance(first, int) or isinstance(first, bool) or first < 2:
        raise ValueError(f"first must be an integer >= 2 (one input and one target), got {first!r}")
    if len(ids) < 2:
        raise ValueError(f"ids must hold at least 2 tokens, got {len(ids)}")
    start, size = 0, first
    while True:
        size = min(size, len(ids))
        if start + size > len(ids):
            start = 0  # a new pass over the text
        yield ids[start : start + size]
        start, size = start + size, 2 * size


def run_recipe(model: nn.Module, train_ids, valid_ids, config: TrainConfig, seconds: float,
               first_eval_targets: int, device: str | torch.device | None = None) -> dict[str, list]:
    """Train `model` with `config` for `seconds` of training time (evaluation not counted),
    validating after each of the `growing_pieces` of `train_ids`; the first piece holds about
    `first_eval_targets` targets.

    Returns lists with one entry per piece: `train_ppl`, `valid_ppl`, `seconds`, `tokens_per_s`,
    `elapsed` (training seconds so far), `targets` (targets trained on so far), `text_read`
    (tokens the training has moved on, re-reads counted again), plus the `config` as a dict.
    """
    if not (isinstance(seconds, (int, float)) and math.isfinite(seconds) and seconds > 0):
        raise ValueError(f"seconds must be a positive number, got {seconds!r}")
    if not isinstance(first_eval_targets, int) or first_eval_targets < 1:
        raise ValueError(f"first_eval_targets must be a positive integer, got {first_eval_targets!r}")
    train_ids = as_ids(train_ids, "train_ids")
    optimizer = make_optimizer(model, config)  # carried over from piece to piece
    targets_per_step = config.batch_size * config.seq_len
    first = max(2, first_eval_targets * text_per_step(config) // targets_per_step)  # in tokens of text
    runs, left = [], float(seconds)
    for piece in growing_pieces(train_ids, first):
        history = fit(model, piece, valid_ids, replace(config, epochs=1, max_seconds=left), device=device,
                      optimizer=optimizer)
        runs.append(history)
        left -= history["seconds"][0]
        if left <= 0:
            break
    merged = {key: [run[key][0] for run in runs] for key in ("train_ppl", "valid_ppl", "seconds", "tokens_per_s")}
    merged["elapsed"] = list(itertools.accumulate(merged["seconds"]))
    targets = [s * rate for s, rate in zip(merged["seconds"], merged["tokens_per_s"])]  # per piece
    merged["targets"] = list(itertools.accumulate(targets))
    merged["text_read"] = list(itertools.accumulate(n * text_per_step(config) / targets_per_step for n in targets))
    merged["config"] = asdict(config)
    return merged


def score_both_ways(model: nn.Module, ids, window_len: int = 5, seq_len: int = 35, batch_size: int = 10,
                    device: str | torch.device | None = None) -> dict[str, float]:
    """Perplexity of `model` on `ids` under both protocols, on the same text:

    - "windows": non-overlapping windows of `window_len` tokens, each from a blank (zero) state,
      so a target sees at most `window_len` tokens of context (how the article's recipe trains);
    - "streams": `batch_size` contiguous streams read `seq_len` tokens at a time, the state
      carried from chunk to chunk (how the streaming recipe trains).
    """
    ids = as_ids(ids)
    windows = TrainConfig(recipe="window", seq_len=window_len, progress=False)
    streams = TrainConfig(recipe="stream", seq_len=seq_len, progress=False)
    blank = evaluate(model, make_batches(ids, windows, batch_size=128, for_eval=True), carry_state=False,
                     device=device)
    carried = evaluate(model, make_batches(ids, streams, batch_size=batch_size, for_eval=True), carry_state=True,
                       device=device)
    return {"windows": perplexity(blank), "streams": perplexity(carried)}


def unigram_perplexity(train_ids, eval_ids, vocab_size: int) -> float:
    """Perplexity on `eval_ids` of the training text's word frequencies, add-one smoothed: a model
    that sees no context at all, the floor any language model should beat."""
    counts = torch.bincount(as_ids(train_ids), minlength=vocab_size).double() + 1
    return perplexity(float(-(counts / counts.sum()).log()[as_ids(eval_ids)].mean()))


def check_window_scorer(fn, models, ids, window_len: int = 5, seq_len: int = 35) -> None:
    """Check a reader's `fn(model, ids, T) -> perplexity` (blank windows of T tokens) against
    `score_both_ways(...)["windows"]` for every model; raises AssertionError naming both numbers."""
    ids = as_ids(ids)
    for model in models:
        expected = score_both_ways(model, ids, window_len, seq_len)["windows"]
        got = fn(model, ids.to(next(model.parameters()).device), window_len)  # the ids where the model is
        assert math.isclose(got, expected, rel_tol=1e-4), f"got perplexity {got}, the package says {expected}"
