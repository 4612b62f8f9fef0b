"""Sampling text from a trained language model: temperature and top-k, seeded."""
from __future__ import annotations

import torch
from torch import nn

from .vocab import EOS, Vocabulary


def next_token_distribution(logits: torch.Tensor, temperature: float = 1.0,
                            top_k: int | None = None) -> torch.Tensor:
    """Probabilities (V,) from the logits (V,) of one step.

    temperature < 1 sharpens the distribution, > 1 flattens it; top_k keeps only the k most
    likely words (top_k=1 is greedy decoding).
    """
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature!r}")
    if top_k is not None:
        if not isinstance(top_k, int) or top_k < 1:
            raise ValueError(f"top_k must be an integer >= 1 or None, got {top_k!r}")
        kth = torch.topk(logits, min(top_k, logits.numel())).values[-1]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    return torch.softmax(logits / temperature, dim=-1)


@torch.no_grad()
def sample(model: nn.Module, vocab: Vocabulary, prompt: str, max_new_tokens: int = 20,
           temperature: float = 1.0, top_k: int | None = None, seed: int | None = None,
           device: str | torch.device = "cpu", stop_token: str | None = None) -> str:
    """Continue `prompt` with up to `max_new_tokens` sampled tokens; returns prompt + continuation.

    The prompt is read once to build the state (the notes); then each step feeds only the
    newly sampled token and the carried state, as the model was trained.
    """
    if not isinstance(max_new_tokens, int) or max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be an integer >= 0, got {max_new_tokens!r}")
    next_token_distribution(torch.zeros(1), temperature, top_k)  # validate early, before any work
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
    model.eval()
    ids = list(prompt_ids)
    x = torch.tensor([prompt_ids], device=device)  # (1, T)
    state = None
    for _ in range(max_new_tokens):
        logits, state = model(x, state)  # (1, T, V)
        probs = next_token_distribution(logits[0, -1].float().cpu(), temperature, top_k)
        token = int(torch.multinomial(probs, 1, generator=generator))
        ids.append(token)
        if stop_token is not None and vocab.id_to_token[token] == stop_token:
            break
        x = torch.tensor([[token]], device=device)
    model.train(was_training)
    return vocab.decode(ids)
