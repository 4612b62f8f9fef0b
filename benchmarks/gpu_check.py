"""The prepared GPU check: full mode on a GPU, end to end, with a short report.

    python benchmarks/gpu_check.py [--out DIR]        # PTB at $COURSE_PTB_ROOT

1. `python -m companion train --corpus ptb --mode full` (the full run, 25 epochs) into DIR/runs;
2. the training chapter (book/training.md) executed in full mode with the same runs folder, so
   its full-run cell finds the finished run (and retrains nothing) while its two 120-s recipe
   races run on the GPU;
3. a report: wall times, test perplexity, device, torch and CUDA versions, printed and written
   to DIR/gpu_check.json.

Estimate before running it (one H100/H200-class GPU): the full run is ~830 steps x 25 epochs of
a 100-unit RNN, a few ms a step, so 1-3 min; the chapter ~2 x 120 s of races plus ~1 min; with
start-up about 6-8 minutes in all, inside the device tool's 10-minute limit.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_cli(env: dict) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "companion", "train", "--corpus", "ptb", "--mode", "full"],
                   cwd=ROOT, env=env, check=True)
    return time.perf_counter() - start


def run_chapter(env: dict, out: Path) -> float | str:
    """Execute book/training.md in full mode; its executed copy goes to `out`."""
    try:
        import jupytext
        from nbclient import NotebookClient
    except ImportError as err:
        return f"skipped: {err.name} is not installed"
    notebook = jupytext.read(ROOT / "book" / "training.md")
    os.environ.update(env)  # the kernel inherits this process's environment
    start = time.perf_counter()
    NotebookClient(notebook, timeout=None, kernel_name="python3",
                   resources={"metadata": {"path": str(ROOT / "book")}}).execute()
    seconds = time.perf_counter() - start
    jupytext.write(notebook, out / "training_full_gpu.ipynb")
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", ROOT / "benchmarks" / "results")))
    args = parser.parse_args(argv)
    import torch

    if not torch.cuda.is_available():
        print("no CUDA GPU here: this check is for a GPU machine", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "COURSE_FULL_RUN": "1", "COURSE_RUNS_DIR": str(args.out / "runs")}
    cli_seconds = run_cli(env)
    record = json.loads((args.out / "runs" / "full-ptb.json").read_text())
    chapter = run_chapter(env, args.out)
    report = {
        "device": torch.cuda.get_device_name(0),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cli_full_run_seconds": round(cli_seconds, 1),
        "training_seconds_in_record": round(record["wall_seconds"], 1),
        "chapter_full_mode_seconds": chapter if isinstance(chapter, str) else round(chapter, 1),
        "best_valid_ppl": round(record["best_valid_ppl"], 2),
        "test_ppl": round(record["test_ppl"], 2),
        "epochs": len(record["epochs"]),
        "record": record,
    }
    (args.out / "gpu_check.json").write_text(json.dumps(report, indent=1) + "\n")
    for key, value in report.items():
        if key != "record":
            print(f"{key:28s} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
