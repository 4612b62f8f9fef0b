"""The package as a whole: import hygiene, run modes, corpora and the command line."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from companion import cli
from companion.corpora import load_corpus
from companion.mode import get_settings, run_mode
from companion.ptb import PTBError

REPO = Path(__file__).resolve().parents[1]

IMPORT_PROBE = """
import random, sys
import torch
events = []
def hook(event, args):
    if event.startswith("socket.") or event in ("os.mkdir", "os.remove", "os.rename", "shutil.rmtree"):
        events.append(event)
    if event == "open" and isinstance(args[1], str) and any(c in args[1] for c in "wax+"):
        events.append(("open", args[0], args[1]))
    if event == "open" and isinstance(args[2], int) and args[2] & 3:  # O_WRONLY | O_RDWR
        events.append(("open", args[0], args[2]))
torch.manual_seed(123); random.seed(123)
before = (torch.get_rng_state(), random.getstate())
sys.addaudithook(hook)
import companion
assert not events, events
assert torch.equal(before[0], torch.get_rng_state()) and before[1] == random.getstate(), "import seeded"
print("clean")
"""


def test_import_does_no_io_and_no_seeding():
    out = subprocess.run([sys.executable, "-c", IMPORT_PROBE], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(REPO), "PYTHONDONTWRITEBYTECODE": "1"})
    assert out.returncode == 0 and out.stdout.strip() == "clean", out.stderr


def test_run_mode_from_environment(monkeypatch):
    monkeypatch.delenv("COURSE_FULL_RUN", raising=False)
    assert run_mode() == "quick" and not get_settings().full
    monkeypatch.setenv("COURSE_FULL_RUN", "1")
    full = get_settings(device="cpu")
    assert full.mode == "full" and (full.embed_dim, full.hidden_size) == (100, 100)
    assert full.ptb_train_tokens is None and "mode: full" in full.describe()
    monkeypatch.setenv("COURSE_FULL_RUN", "maybe")
    with pytest.raises(ValueError, match="COURSE_FULL_RUN"):
        run_mode()
    with pytest.raises(ValueError, match="mode"):
        get_settings("medium")


def test_auto_falls_back_to_the_toy_language_and_says_why(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_PTB_URL", "http://127.0.0.1:9")  # a closed port: offline
    corpus = load_corpus("auto", root=tmp_path / "ptb", toy_sentences={"train": 200, "valid": 20, "test": 20})
    assert corpus.name == "toy" and "PTB not available" in corpus.note and "toy language" in corpus.note
    assert int(corpus.train.max()) < len(corpus.vocab) and len(corpus.valid) > 0
    with pytest.raises(PTBError, match="COURSE_PTB_ROOT"):
        load_corpus("ptb", root=tmp_path / "ptb")
    assert not any(p.is_file() for p in tmp_path.rglob("*"))  # nothing half-written


def test_corpus_arguments_are_checked():
    with pytest.raises(ValueError, match="name"):
        load_corpus("wikitext")
    with pytest.raises(ValueError, match="max_train_tokens"):
        load_corpus("toy", max_train_tokens=1)


def test_cli_train_evaluate_sample(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("COURSE_FULL_RUN", raising=False)
    out = tmp_path / "m.pt"
    args = ["train", "--corpus", "toy", "--epochs", "1", "--embed-dim", "8", "--hidden-size", "8",
            "--device", "cpu", "--out", str(out)]
    assert cli.main(args) == 0 and out.is_file()
    assert cli.main(["evaluate", str(out), "--split", "test"]) == 0
    assert "test loss" in capsys.readouterr().out
    assert cli.main(["sample", str(out), "--prompt", "the dog", "--seed", "0", "--max-new-tokens", "3"]) == 0
    assert capsys.readouterr().out.startswith("the dog")
    assert cli.main(["sample", str(out), "--prompt", "the", "--temperature", "0"]) == 2
    assert "temperature" in capsys.readouterr().err
    assert cli.main(["evaluate", str(tmp_path / "missing.pt")]) == 2


def test_cli_help_runs_as_a_module():
    out = subprocess.run([sys.executable, "-m", "companion", "--help"], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    assert out.returncode == 0 and "train" in out.stdout and "sample" in out.stdout
