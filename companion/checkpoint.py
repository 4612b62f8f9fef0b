"""Checkpoints as plain dicts: model and optimizer `state_dict`s, configs, and the vocabulary.

Never a pickled module: a checkpoint loads into whatever version of the class the reader
has, and `torch.load(weights_only=True)` can open it without running arbitrary code.
A checkpoint remembers its vocabulary, and loading it with a different one is refused: the
ids would silently mean other words.
"""
from __future__ import annotations

import os
from dataclasses import asdict
from pathlib import Path

import torch

from .files import atomic_path
from .model import ModelConfig, SimpleRnnlm
from .train import TrainConfig
from .vocab import Vocabulary

FORMAT = "companion.checkpoint/1"


def save_checkpoint(path: str | os.PathLike, model: SimpleRnnlm, vocab: Vocabulary,
                    optimizer: torch.optim.Optimizer | None = None,
                    train_config: TrainConfig | None = None, history: dict | None = None,
                    extra: dict | None = None) -> Path:
    """Write a checkpoint atomically: an interrupted save leaves the previous file intact.

    `extra` holds plain values the caller needs to rebuild its setting (e.g. which corpus).
    """
    checkpoint = {
        "format": FORMAT,
        "model": model.state_dict(),
        "model_config": asdict(model.config),
        "vocab": vocab.to_dict(),
        "optimizer": None if optimizer is None else optimizer.state_dict(),
        "train_config": None if train_config is None else asdict(train_config),
        "history": history,
        "extra": extra or {},
    }
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save(checkpoint, tmp)
    return path


def load_checkpoint(path: str | os.PathLike, vocab: Vocabulary | None = None,
                    map_location: str | torch.device = "cpu") -> dict:
    """Read a checkpoint dict, checking it is ours and (if given) matches `vocab`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # truncated zip, random bytes, another format
        raise ValueError(f"{path} is not a readable checkpoint (truncated or not a torch file): {err}") from err
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != FORMAT:
        raise ValueError(f"{path} is not a companion checkpoint (expected format {FORMAT!r})")
    if vocab is not None and Vocabulary.from_dict(checkpoint["vocab"], vocab.tokenizer) != vocab:
        saved = len(checkpoint["vocab"]["tokens"])
        raise ValueError(
            f"{path} was trained with a different vocabulary ({saved} tokens; yours has {len(vocab)} "
            "or orders them differently). Load the checkpoint's own vocabulary with "
            "load_model(path) instead of building a new one."
        )
    return checkpoint


def load_model(path: str | os.PathLike, map_location: str | torch.device = "cpu",
               tokenizer=None) -> tuple[SimpleRnnlm, Vocabulary, dict]:
    """Rebuild the model and vocabulary from a checkpoint; returns (model, vocab, checkpoint)."""
    checkpoint = load_checkpoint(path, map_location=map_location)
    vocab = Vocabulary.from_dict(checkpoint["vocab"], tokenizer)
    model = SimpleRnnlm(ModelConfig(**checkpoint["model_config"]))
    model.load_state_dict(checkpoint["model"])
    return model.to(map_location), vocab, checkpoint
