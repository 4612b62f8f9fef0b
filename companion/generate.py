"""Sampling text from a trained language model: temperature and top-k, seeded."""
from __future__ import annotations

import math
import numbers

import torch
from torch import nn

from .runtime import model_device
from .vocab import EOS, Vocabulary


def next_token_distribution(logits: torch.Tensor, temperature: float = 1.0,
                            top_k: int | None = None) -> torch.Tensor:
    """Probabilities (V,) from the logits (V,) of one step.

    temperature < 1 sharpens the distribution, > 1 flattens it; top_k keeps only the k most
    likely words (top_k=1 is greedy decoding). Logits may hold -inf (a banned word), not nan/+inf.
    """
    _check_temperature(temperature)
    if top_k is not None and (not isinstance(top_k, int) or isinstance(top_k, bool) or top_k < 1):
        raise ValueError(f"top_k must be an integer >= 1 or None, got {top_k!r}")
    if not isinstance(logits, torch.Tensor) or logits.dim() != 1 or logits.numel() == 0:
        raise ValueError("logits must be a non-empty 1-D tensor (V,)")
    if not logits.is_floating_point():
        raise TypeError(f"logits must be floating point, got dtype {logits.dtype}")
    if logits.isnan().any() or (logits == float("inf")).any() or (logits == float("-inf")).all():
        raise ValueError("logits must be finite or -inf, with at least one finite value")
    if top_k is not None:
        kth = torch.topk(logits, min(top_k, logits.numel())).values[-1]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    # Subtract the max *before* dividing, in float64: a tiny temperature then sends every other
    # word to -inf (greedy in the limit) instead of overflowing to inf and giving nan
    # probabilities (in float32, 1e-300 would even round to 0 and divide by zero).
    scaled = (logits.double() - logits.max().double()) / temperature
    return torch.softmax(scaled, dim=-1).to(logits.dtype)


def _check_temperature(temperature: float) -> None:
    if not isinstance(temperature, numbers.Real) or isinstance(temperature, bool):
        raise TypeError(f"temperature must be a number, got {type(temperature).__name__}")
    if not 0 < temperature < math.inf:  # also rejects nan
        raise ValueError(f"temperature must be > 0 and finite, got {temperature!r}")


@torch.no_grad()
def sample(model: nn.Module, vocab: Vocabulary, prompt: str, max_new_tokens: int = 20,
           temperature: float = 1.0, top_k: int | None = None, seed: int | None = None,
           device: str | torch.device | None = None, stop_token: str | None = None) -> str:
    """Continue `prompt` with up to `max_new_tokens` sampled tokens; returns prompt + continuation.

    The prompt is read once to build the state (the notes); then each step feeds only the
    newly sampled token and the carried state, as the model was trained. `device` defaults to
    the model's.
    """
    device = model_device(model, device)
    if not isinstance(max_new_tokens, int) or isinstance(max_new_tokens, bool) or max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be an integer >= 0, got {max_new_tokens!r}")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool) or not -2**63 <= seed < 2**64):
        raise ValueError(f"seed must be a 64-bit integer or None, got {seed!r}")
    if not isinstance(prompt, str):
        raise TypeError(f"prompt must be a str, got {type(prompt).__name__}")
    next_token_distribution(torch.zeros(1), temperature, top_k)  # validate early, before any work
    _check_vocab(model, vocab, stop_token)
    tokens = vocab.tokenize(prompt)
    if tokens and tokens[-1] == EOS and not prompt.endswith("\n"):
        tokens.pop()  # line-based tokenizers end every line with <eos>; a prompt is unfinished
    prompt_ids = vocab.encode_tokens(tokens)
    if not prompt_ids:
        raise ValueError("prompt is empty after tokenization: give at least one word")
    generator = torch.Generator(device="cpu")
    if seed is not None:
        generator.manual_seed(seed)
    else:
        generator.seed()
    was_training = model.training
    model.eval()  # no dropout while sampling; the caller's mode comes back even after an error
    try:
        ids = list(prompt_ids)
        x = torch.tensor([prompt_ids], device=device)  # (1, T)
        state = None
        for _ in range(max_new_tokens):
            logits, state = model(x, state)  # (1, T, V)
            if logits.shape[-1] != len(vocab):
                raise ValueError(_mismatch(logits.shape[-1], vocab))
            probs = next_token_distribution(logits[0, -1].float().cpu(), temperature, top_k)
            token = int(torch.multinomial(probs, 1, generator=generator))
            ids.append(token)
            if stop_token is not None and vocab.id_to_token[token] == stop_token:
                break
            x = torch.tensor([[token]], device=device)
    finally:
        model.train(was_training)
    return vocab.decode(ids)


def _check_vocab(model: nn.Module, vocab: Vocabulary, stop_token: str | None) -> None:
    """Refuse a vocabulary that is not the model's, and a stop_token it does not know."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(vocab, Vocabulary):
        raise TypeError(f"vocab must be a Vocabulary, got {type(vocab).__name__}")
    config = getattr(model, "config", None)  # SimpleRnnlm knows its size; other models are checked
    size = getattr(config, "vocab_size", getattr(model, "vocab_size", None))  # on their first logits
    if isinstance(size, int) and size != len(vocab):
        raise ValueError(_mismatch(size, vocab))
    if stop_token is not None and not isinstance(stop_token, str):
        raise TypeError(f"stop_token must be a token (str) or None, got {type(stop_token).__name__}")
    if stop_token is not None and stop_token not in vocab:
        raise ValueError(f"stop_token={stop_token!r} is not in the vocabulary, so sampling could never stop "
                         f"on it; give one of its tokens (e.g. {EOS!r} if it has one) or None")


def _mismatch(model_size: int, vocab: Vocabulary) -> str:
    return (f"the model scores {model_size} words but vocab has {len(vocab)}: ids would mean other words. "
            "Sample with the vocabulary the model was trained with (load_model(path) returns both)")
