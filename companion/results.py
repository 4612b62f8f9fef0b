"""The record of a training run, as a small JSON file with its provenance.

A full run writes one (`COURSE_FULL_RUN=1`); it is committed and the training chapter shows
it even in quick mode, so a reader sees real curves and a real test perplexity with the
facts needed to trust them: when, on what device, with which torch, commit and settings.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import platform
import subprocess
from pathlib import Path

import torch

from .files import atomic_write_text
from .train import HISTORY_KEYS, perplexity

FORMAT = "companion.results/1"


def git_commit(repo: str | os.PathLike | None = None) -> str:
    """The current commit hash (with '+dirty' when files changed), or 'unknown' outside git."""
    repo = repo or Path(__file__).resolve().parents[1]
    try:
        run = lambda *a: subprocess.run(["git", *a], cwd=repo, capture_output=True, text=True,  # noqa: E731
                                        timeout=10, check=True).stdout.strip()
        return run("rev-parse", "HEAD") + ("+dirty" if run("status", "--porcelain", "--untracked-files=no") else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def device_name(device: str | torch.device) -> str:
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU ({platform.machine()}, {os.cpu_count()} cores, {torch.get_num_threads()} threads)"


def make_record(history: dict, test_loss: float, model_config: dict, corpus_note: str,
                device: str | torch.device, wall_seconds: float, mode: str, commit: str | None = None) -> dict:
    """Everything worth keeping about a finished run, as plain JSON-able values.

    `commit`: the code the run started from (`git_commit()` taken at the start); by default
    the commit at the end, which is '+dirty' if files were edited while the run trained."""
    epochs = [dict(zip(HISTORY_KEYS, values)) for values in zip(*(history[k] for k in HISTORY_KEYS))]
    best = min(epochs, key=lambda e: e["valid_loss"])
    return {
        "format": FORMAT,
        "mode": mode,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "commit": commit or git_commit(),
        "torch": torch.__version__,
        "device": device_name(device),
        # allocator and thread settings change the speed (not the numbers): keep them with the timings
        "environment": {k: v for k, v in sorted(os.environ.items()) if k.startswith(("MALLOC_", "OMP_", "MKL_"))},
        "corpus": corpus_note,
        "model_config": model_config,
        "train_config": history["config"],
        "epochs": epochs,
        "best_epoch": best["epoch"],
        "best_valid_ppl": best["valid_ppl"],
        "test_loss": test_loss,
        "test_ppl": perplexity(test_loss),
        "wall_seconds": wall_seconds,
    }


def save_results(path: str | os.PathLike, record: dict) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(record, indent=1, ensure_ascii=False) + "\n")
    return path


def load_results(path: str | os.PathLike) -> dict:
    path = Path(path)
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"no results file at {path}: run a full training first") from None
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON ({err}); delete it and run again") from err
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise ValueError(f"{path} is not a companion results file (expected format {FORMAT!r})")
    return record
