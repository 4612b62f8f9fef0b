"""The record of a training run, as a small JSON file with its provenance.

A full run writes one (`COURSE_FULL_RUN=1`); it is committed and the training chapter shows
it even in quick mode, so a reader sees real curves and a real test perplexity with the
facts needed to trust them: when, on what device, with which torch, commit and settings.
"""
from __future__ import annotations

import datetime as dt
from importlib import resources
import json
import os
import subprocess
from pathlib import Path

import torch

from .files import atomic_write_text
from .runtime import device_name
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


def make_record(history: dict, test_loss: float, model_config: dict, corpus_note: str,
                device: str | torch.device | list[str], wall_seconds: float, mode: str,
                commit: str | None = None) -> dict:
    """Everything worth keeping about a finished run, as plain JSON-able values.

    `device`: where it ran, or the names of every device that trained some of its epochs (a
    run resumed elsewhere). `wall_seconds`: training + evaluation time of the whole run,
    resumes included. `commit`: the code the run started from (`git_commit()` taken at the
    start); by default the commit at the end, '+dirty' if files were edited while it trained."""
    epochs = [dict(zip(HISTORY_KEYS, values)) for values in zip(*(history[k] for k in HISTORY_KEYS))]
    best = min(epochs, key=lambda e: e["valid_loss"])
    return {
        "format": FORMAT,
        "mode": mode,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "commit": commit or git_commit(),
        "torch": torch.__version__,
        "device": ", ".join(device) if isinstance(device, list) else device_name(device),
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


def published_record(corpus: str = "ptb") -> dict:
    """The record of the full run shipped with the package (`companion/records/`): what the
    book shows in every mode, with or without a checkout."""
    name = f"{corpus}_full_run.json"
    resource = resources.files("companion.records") / name
    if not resource.is_file():
        shipped = sorted(p.name for p in resources.files("companion.records").iterdir() if p.name.endswith(".json"))
        raise FileNotFoundError(f"no full-run record for corpus {corpus!r} ships with this package "
                                f"(there are: {', '.join(shipped) or 'none'})")
    with resources.as_file(resource) as path:
        return load_results(path)


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
