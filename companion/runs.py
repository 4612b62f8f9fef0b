"""A training run on disk: where its checkpoint and record live, and training it only once.

    paths = run_paths("full", "ptb")     # runs/full-ptb.pt (checkpoint) and runs/full-ptb.json (record)
    record = train_run(model, vocab, corpus, config, paths, mode="full")

The CLI and the training chapter both go through `train_run`, so they share one checkpoint.
Quick and full runs, on PTB or the toy language, never share a path: one never resumes (or
is refused by) another. Everything is written under `$COURSE_RUNS_DIR`, by default `runs/`
in the working directory: nothing outside it, and nothing half-written (see `files`).

A run that has finished is not trained again, and its record is not rewritten: the record
keeps the true training time, the devices that trained it, the commit it started from and
the date it finished, however often the page or the command is run afterwards.
"""
from __future__ import annotations

import datetime as dt
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import torch

from .checkpoint import fit_with_checkpoints, load_checkpoint
from .corpora import Corpus
from .model import SimpleRnnlm
from .results import git_commit, load_results, make_record, save_results
from .runtime import pick_device
from .train import TrainConfig, evaluate_ids
from .vocab import Vocabulary

RUNS_ENV = "COURSE_RUNS_DIR"


@dataclass(frozen=True)
class RunPaths:
    checkpoint: Path  # rewritten after every epoch; a run resumes from it
    record: Path  # the JSON record, written once when the run has finished

    @classmethod
    def for_checkpoint(cls, checkpoint: str | os.PathLike) -> "RunPaths":
        """The paths of a run whose checkpoint is `checkpoint`: the record sits beside it (.json)."""
        checkpoint = Path(checkpoint)
        return cls(checkpoint, checkpoint.with_suffix(".json"))

    def check_writable(self) -> None:
        """Refuse paths that could not be written, before any training starts."""
        for what, path in (("checkpoint", self.checkpoint), ("record", self.record)):
            if path.is_dir():
                raise ValueError(f"the {what} path {path} is a directory; give a file path such as "
                                 f"{path / ('model.pt' if what == 'checkpoint' else 'model.json')}")
            folder = next((p for p in path.parents if p.exists()), Path("."))
            if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
                raise ValueError(f"cannot write the {what} {path}: {folder} is not a writable directory; "
                                 f"choose another path (or set {RUNS_ENV})")


def runs_dir(root: str | os.PathLike | None = None) -> Path:
    """Where runs are written: `root`, else `$COURSE_RUNS_DIR`, else `runs/` in the working directory."""
    return Path(root or os.environ.get(RUNS_ENV) or "runs")


def run_paths(mode: str, corpus: str, root: str | os.PathLike | None = None) -> RunPaths:
    """The default paths of a `mode` ('quick'/'full') run on `corpus` ('ptb', 'toy', ...)."""
    if mode not in ("quick", "full"):
        raise ValueError(f"mode must be 'quick' or 'full', got {mode!r}")
    if not corpus or not corpus.replace("-", "").replace("_", "").isalnum():
        raise ValueError(f"corpus must be a short name such as 'ptb' or 'toy', got {corpus!r}")
    return RunPaths.for_checkpoint(runs_dir(root) / f"{mode}-{corpus}.pt")


def finished_record(paths: RunPaths, model: SimpleRnnlm, config: TrainConfig) -> dict | None:
    """The record at `paths.record` if it is of this very run (same model and training settings),
    else None. `model` gets the run's final weights when the checkpoint is still there."""
    if not paths.record.is_file():
        return None
    record = load_results(paths.record)
    same_model = record.get("model_config") == asdict(model.config)
    same_training = _without_progress(record.get("train_config") or {}) == _without_progress(asdict(config))
    if not (same_model and same_training):
        return None
    if paths.checkpoint.is_file():
        model.load_state_dict(load_checkpoint(paths.checkpoint)["model"])
    return record


def train_run(model: SimpleRnnlm, vocab: Vocabulary, corpus: Corpus, config: TrainConfig, paths: RunPaths,
              mode: str, device: str | torch.device | None = None, resume: bool = True,
              extra: dict | None = None, showcase: Callable[[SimpleRnnlm], dict] | None = None) -> dict:
    """Train `model` on `corpus` (resuming from `paths.checkpoint`), score it on the test split
    and write the record; returns the record.

    With `resume` and a finished record of the same settings at `paths.record`, nothing is
    trained and nothing is written: the model gets the run's weights and the record is returned
    as it is. Without `resume` the run starts afresh and both files are replaced.
    `showcase(model)` may add plain values to the record (e.g. sampled poems), computed once
    with the final weights.
    """
    paths.check_writable()
    device = pick_device(device)
    if resume:
        done = finished_record(paths, model, config)
        if done is not None:
            model.to(device)
            return done
    started = _started(paths.checkpoint) if resume and paths.checkpoint.is_file() else None
    started = started or {"commit": git_commit(), "date": _now()}
    extra = {**(extra or {}), "started": started}
    history = fit_with_checkpoints(model, vocab, corpus.train, corpus.valid, config, paths.checkpoint,
                                   device=device, resume=resume, extra=extra)
    fit_state = load_checkpoint(paths.checkpoint)["fit_state"]
    start = time.perf_counter()
    test_loss = evaluate_ids(model, corpus.test, config, device, name="the test split")
    wall = fit_state.get("wall_seconds", 0.0) + time.perf_counter() - start
    record = make_record(history, test_loss, asdict(model.config), corpus.note,
                         fit_state.get("devices") or str(device), wall, mode, started["commit"])
    record["started"] = started["date"]
    if showcase is not None:
        record.update(showcase(model))
    save_results(paths.record, record)
    return record


def _started(checkpoint: Path) -> dict | None:
    """When and from which commit the run in `checkpoint` started (kept across resumes)."""
    return load_checkpoint(checkpoint).get("extra", {}).get("started")


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _without_progress(train_config: dict) -> dict:
    return {k: v for k, v in train_config.items() if k != "progress"}
