"""The loss of a language model and its perplexity, each computed one way, in one place.

`lm_loss` is the cross-entropy of next-token predictions over (B, T, V) logits; `model_loss`
picks the package model's fused output layer (`SimpleRnnlm.loss`) or falls back to `lm_loss`
for any other `forward(x, state) -> (logits, state)` model; `perplexity` is exp(mean NLL).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .model import SimpleRnnlm


def lm_loss(logits: torch.Tensor, targets: torch.Tensor, ignore_index: int = -100,
            reduction: str = "mean") -> torch.Tensor:
    """Cross-entropy of next-token predictions.

    logits (B, T, V), targets (B, T). `cross_entropy` wants one row per prediction, so both
    are flattened: (B*T, V) against (B*T,). Positions whose target is `ignore_index` (e.g.
    padding) do not count.
    """
    if logits.shape[:-1] != targets.shape:
        raise ValueError(f"logits {tuple(logits.shape)} and targets {tuple(targets.shape)} disagree: "
                         "expected (B, T, V) and (B, T)")
    return F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=ignore_index,
                           reduction=reduction)


def model_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor, state=None) -> tuple[torch.Tensor, object]:
    """(mean NLL, state) of `model` on a (B, T) batch: `SimpleRnnlm.loss` (the fused output layer)
    for the package's model, else `lm_loss` over the logits of any `forward(x, state)` model."""
    if isinstance(model, SimpleRnnlm):  # not "has a .loss": a module may hold e.g. nn.CrossEntropyLoss there
        return model.loss(x, y, state)
    logits, state = model(x, state)  # (B, T, V), (L, B, H)
    return lm_loss(logits, y), state


def perplexity(mean_nll: float) -> float:
    """exp(mean negative log-likelihood per token): the number of equally likely words the
    model is, on average, choosing between. A uniform model over V words scores exactly V."""
    if not isinstance(mean_nll, (int, float)) or math.isnan(mean_nll) or mean_nll < 0:
        raise ValueError(f"mean_nll must be a non-negative number, got {mean_nll!r}")
    try:
        return math.exp(mean_nll)
    except OverflowError:  # beyond exp(709): say "infinite", never a made-up finite number
        return math.inf
