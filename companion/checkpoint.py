"""Checkpoints as plain dicts: model and optimizer `state_dict`s, configs, and the vocabulary.

Never a pickled module: a checkpoint loads into whatever version of the class the reader
has, and `torch.load(weights_only=True)` can open it without running arbitrary code.
A checkpoint remembers its vocabulary, and loading it with a different one is refused: the
ids would silently mean other words. `fit_with_checkpoints` writes one after every epoch, with
the loop's state and the random generators', so an interrupted run resumes exactly.
"""
from __future__ import annotations

import os
from dataclasses import asdict
from pathlib import Path

import torch

from .files import atomic_path
from .model import ModelConfig, SimpleRnnlm
from .runtime import pick_device
from .train import FitState, TrainConfig, fit, make_optimizer
from .vocab import Vocabulary

FORMAT = "companion.checkpoint/1"


def save_checkpoint(path: str | os.PathLike, model: SimpleRnnlm, vocab: Vocabulary,
                    optimizer: torch.optim.Optimizer | None = None,
                    train_config: TrainConfig | None = None, history: dict | None = None,
                    extra: dict | None = None, fit_state: FitState | None = None,
                    resume_model: dict | None = None) -> Path:
    """Write a checkpoint atomically: an interrupted save leaves the previous file intact.

    `extra` holds plain values the caller needs to rebuild its setting (e.g. which corpus);
    `fit_state` is what `fit` needs to resume (see `fit_with_checkpoints`), and `resume_model`
    the weights to resume from when `model` holds others (the best epoch's, with restore_best).
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
        "fit_state": None if fit_state is None else vars(fit_state),
        "resume_model": resume_model,
    }
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save(checkpoint, tmp)
    return path


def load_checkpoint(path: str | os.PathLike, vocab: Vocabulary | None = None,
                    map_location: str | torch.device = "cpu") -> dict:
    """Read a checkpoint dict, checking it is ours, whole and (if given) matches `vocab`."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a directory; give the path of the checkpoint file in it "
                                f"(e.g. {path / 'model.pt'})")
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    if vocab is not None and not isinstance(vocab, Vocabulary):
        raise TypeError(f"vocab must be a Vocabulary or None, got {type(vocab).__name__}")
    map_location = _check_map_location(map_location)  # else torch.load's error would blame the file
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # truncated zip, random bytes, another format
        raise ValueError(f"{path} is not a readable checkpoint (truncated or not a torch file): {err}") from err
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != FORMAT:
        raise ValueError(f"{path} is not a companion checkpoint (expected format {FORMAT!r})")
    _check_contents(path, checkpoint)
    if vocab is not None and Vocabulary.from_dict(checkpoint["vocab"], vocab.tokenizer) != vocab:
        saved = len(checkpoint["vocab"]["tokens"])
        raise ValueError(
            f"{path} was trained with a different vocabulary ({saved} tokens; yours has {len(vocab)} "
            "or orders them differently). Load the checkpoint's own vocabulary with "
            "load_model(path) instead of building a new one."
        )
    return checkpoint


def _check_map_location(map_location: str | torch.device) -> torch.device:
    try:
        device = torch.device(map_location)
    except (RuntimeError, TypeError):
        raise ValueError(f"map_location must be a device such as 'cpu' or 'cuda', got {map_location!r}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"map_location={map_location!r}, but no CUDA GPU is available; use map_location='cpu'")
    return device


def _check_contents(path: Path, checkpoint: dict) -> None:
    """Refuse a checkpoint with our format tag that lacks what loading needs (damaged, or hand-made)."""
    problems = [f"missing {k!r}" if k not in checkpoint else f"{k!r} is a {type(checkpoint[k]).__name__}, not a dict"
                for k in ("model", "model_config", "vocab") if not isinstance(checkpoint.get(k), dict)]
    if not problems:
        unknown = sorted(set(checkpoint["model_config"]) - set(ModelConfig.__dataclass_fields__))
        problems += [f"unknown model_config fields {unknown}"] if unknown else []
        try:  # any tokenizer will do: only the structure is checked here
            Vocabulary.from_dict(checkpoint["vocab"], tokenizer=str.split)
        except (ValueError, TypeError) as err:
            problems.append(f"its vocabulary does not load: {err}")
    if problems:
        raise ValueError(f"{path} is damaged or was not written by save_checkpoint ({'; '.join(problems)}); "
                         "use a checkpoint that save_checkpoint wrote, or train again")


def load_model(path: str | os.PathLike, map_location: str | torch.device = "cpu",
               tokenizer=None) -> tuple[SimpleRnnlm, Vocabulary, dict]:
    """Rebuild the model and vocabulary from a checkpoint; returns (model, vocab, checkpoint)."""
    checkpoint = load_checkpoint(path, map_location=map_location)
    vocab = Vocabulary.from_dict(checkpoint["vocab"], tokenizer)
    model = SimpleRnnlm(ModelConfig(**checkpoint["model_config"]))
    model.load_state_dict(checkpoint["model"])
    return model.to(map_location), vocab, checkpoint


def fit_with_checkpoints(model: SimpleRnnlm, vocab: Vocabulary, train_ids, valid_ids,
                         config: TrainConfig, path: str | os.PathLike,
                         device: str | torch.device | None = None,
                         optimizer: torch.optim.Optimizer | None = None, resume: bool = True,
                         extra: dict | None = None) -> dict[str, list]:
    """`fit`, writing a checkpoint to `path` after every epoch and once more at the end.

    With `resume` and a checkpoint already at `path`, training continues from it: weights,
    optimizer, history, lr-decay / early-stopping state and random generators are restored,
    so the result equals that of a run that was never interrupted. A checkpoint of another
    run (model config, training config or vocabulary) is refused with a ValueError; only
    `epochs` (and `progress`) may change, so a finished run can be trained for longer (with
    `lr_schedule="cosine"` the remaining epochs then follow the longer schedule).
    """
    device = pick_device(device)
    model.to(device)  # before the optimizer state is loaded: it follows its parameters' device
    optimizer = optimizer or make_optimizer(model, config)
    state = None
    if resume and Path(path).exists():
        state = _restore(path, model, vocab, optimizer, config)
    finished: list[FitState] = []  # the state after the last epoch trained in this call

    def save(state: FitState) -> None:
        finished[:] = [state]
        save_checkpoint(path, model, vocab, optimizer, config, state.history, extra, state)

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    history = fit(model, train_ids, valid_ids, config, device, optimizer, resume=state, on_epoch=save)
    if finished and finished[0].best_state is not None:
        # restore_best swapped in the best epoch's weights: they are what evaluate/sample want,
        # but a longer run must go on from the last epoch's, which `save` has just written
        last_weights = load_checkpoint(path)["model"]
        save_checkpoint(path, model, vocab, optimizer, config, history, extra, finished[0], last_weights)
    return history


def _restore(path, model: SimpleRnnlm, vocab: Vocabulary, optimizer: torch.optim.Optimizer,
             config: TrainConfig) -> FitState:
    """Load `path` into `model` and `optimizer` after checking it comes from the same run."""
    checkpoint = load_checkpoint(path, vocab)
    if checkpoint.get("fit_state") is None:
        raise ValueError(f"{path} holds no training state to resume from (it was not written by "
                         "fit_with_checkpoints); start without resume or choose another path")
    ignore = {"progress", "epochs"}  # neither changes the epochs already trained
    saved_train = {k: v for k, v in (checkpoint["train_config"] or {}).items() if k not in ignore}
    differences = _differences(checkpoint["model_config"], asdict(model.config))
    differences += _differences(saved_train, {k: v for k, v in asdict(config).items() if k not in ignore})
    if differences:
        raise ValueError(f"{path} comes from a different run ({'; '.join(differences)}): resume with "
                         "the same settings, or start afresh with another checkpoint path")
    resume_model = checkpoint.get("resume_model")
    model.load_state_dict(checkpoint["model"] if resume_model is None else resume_model)
    optimizer.load_state_dict(checkpoint["optimizer"])
    return FitState(**checkpoint["fit_state"])


def _differences(saved: dict, current: dict) -> list[str]:
    return [f"{k}: checkpoint {saved.get(k)!r}, now {current.get(k)!r}"
            for k in sorted(set(saved) | set(current)) if saved.get(k) != current.get(k)]
