"""The PTB download under faults, against a real server on 127.0.0.1 that misbehaves on purpose.

Each test checks the outcome (a verified file, or a `PTBError` that says what happened and what to
do) and that the root holds no `.part` file and nothing under a final name unless it is verified.
The fixtures (`clean_environment`, `fake_files`, `server`) are shared with test_ptb.py.
"""
from __future__ import annotations

import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from companion import download, ptb
from companion.ptb import PTBError, SplitFile, ptb_path, verify_file
from http_helpers import all_at_once, in_turn, send_bytes, send_slowly, send_then_reset, stall
from test_ptb import clean_environment, fake_files, listing, server  # noqa: F401 (fixtures)


def only_verified(root: Path) -> list[str]:
    """The names in `root`, after checking that each one is a declared, verified split file."""
    names = listing(root)
    specs = {spec.filename: spec for spec in ptb.PTB_FILES.values()}
    for name in names:
        assert name in specs, f"leftover {name} in {root}"  # catches .part files too
        assert verify_file(root / name, specs[name].sha256), f"{name} is not verified"
    return names


# -- connection reset mid-stream ----------------------------------------------------------------
def test_reset_mid_stream_is_retried_with_backoff_then_succeeds(tmp_path, server, fake_files, monkeypatch):
    sleeps = []
    monkeypatch.setattr(download.time, "sleep", sleeps.append)
    body = fake_files["ptb.train.txt"]
    reset = send_then_reset(body, sent=len(body) // 2)
    server.route("/ptb.train.txt", in_turn(reset, reset, send_bytes(body)))
    path = ptb_path("train", root=tmp_path, base_url=server.url, attempts=3, timeout=2.0, backoff=0.2)
    assert path.read_bytes() == body
    assert sleeps == [0.2, 0.4]  # exponential back-off between the three attempts
    assert server.count("/ptb.train.txt") == 3
    assert only_verified(tmp_path) == ["ptb.train.txt"]


def test_reset_on_every_attempt_gives_up_and_leaves_nothing(tmp_path, server, fake_files, monkeypatch):
    sleeps = []
    monkeypatch.setattr(download.time, "sleep", sleeps.append)
    body = fake_files["ptb.train.txt"]
    server.route("/ptb.train.txt", send_then_reset(body, sent=len(body) // 2))
    with pytest.raises(PTBError, match="after 3 attempts: the connection broke") as info:
        ptb_path("train", root=tmp_path, base_url=server.url, attempts=3, timeout=2.0, backoff=0.05)
    assert "place these files" in str(info.value)  # and what to do about it
    assert sleeps == [0.05, 0.1]  # no sleep after the last attempt
    assert server.count("/ptb.train.txt") == 3
    assert only_verified(tmp_path) == []


# -- a server that stalls -----------------------------------------------------------------------
@pytest.mark.parametrize("after_headers", [True, False], ids=["after-headers", "before-headers"])
def test_stalled_server_times_out_and_is_retried(tmp_path, server, fake_files, after_headers):
    server.route("/ptb.valid.txt", stall(fake_files["ptb.valid.txt"], after_headers=after_headers))
    start = time.monotonic()
    with pytest.raises(PTBError, match=r"after 2 attempts: .*timeout=0\.5") as info:
        ptb_path("valid", root=tmp_path, base_url=server.url, attempts=2, timeout=0.5, backoff=0.01)
    elapsed = time.monotonic() - start
    assert 1.0 <= elapsed < 5.0  # two attempts of 0.5 s each, then a prompt error
    assert "larger timeout" in str(info.value)
    assert server.count("/ptb.valid.txt") == 2
    assert only_verified(tmp_path) == []


def test_stall_then_good_server_succeeds(tmp_path, server, fake_files):
    body = fake_files["ptb.valid.txt"]
    server.route("/ptb.valid.txt", in_turn(stall(body), send_bytes(body)))
    path = ptb_path("valid", root=tmp_path, base_url=server.url, attempts=2, timeout=0.5, backoff=0.01)
    assert path.read_bytes() == body
    assert only_verified(tmp_path) == ["ptb.valid.txt"]


# -- Ctrl-C during the transfer -----------------------------------------------------------------
class _InterruptAfterFirstChunk:
    """Wraps a response: the first read returns real bytes, the second is 'Ctrl-C'."""

    def __init__(self, response) -> None:
        self.response, self.reads = response, 0

    def read(self, size: int) -> bytes:
        self.reads += 1
        if self.reads > 1:
            raise KeyboardInterrupt
        return self.response.read(size)


def test_keyboard_interrupt_propagates_and_leaves_no_partial_file(tmp_path, server, fake_files, monkeypatch):
    real_stream, written = download._stream, []

    def interrupted_stream(response, tmp, timeout):
        written.append(tmp)
        return real_stream(_InterruptAfterFirstChunk(response), tmp, timeout)

    monkeypatch.setattr(download, "CHUNK_BYTES", 64)  # so the first chunk is only part of the body
    monkeypatch.setattr(download, "_stream", interrupted_stream)
    with pytest.raises(KeyboardInterrupt):  # not swallowed, not turned into a PTBError
        ptb_path("train", root=tmp_path, base_url=server.url, attempts=3, timeout=2.0, backoff=0.01)
    assert len(written) == 1 and written[0].name.endswith(".part")  # one attempt, no retry
    assert server.count("/ptb.train.txt") == 1
    assert only_verified(tmp_path) == []


def test_keyboard_interrupt_keeps_an_existing_file_untouched(tmp_path, server, monkeypatch):
    old = tmp_path / "ptb.train.txt"
    old.write_bytes(b"an old, wrong copy\n")
    monkeypatch.setattr(download, "_stream", lambda *args: (_ for _ in ()).throw(KeyboardInterrupt))
    with pytest.raises(KeyboardInterrupt):
        ptb_path("train", root=tmp_path, base_url=server.url, timeout=2.0, backoff=0.01)
    assert listing(tmp_path) == ["ptb.train.txt"]  # no .part beside it
    assert old.read_bytes() == b"an old, wrong copy\n"  # never half-overwritten (and never returned)


# -- two processes, one file --------------------------------------------------------------------
def _download_in_child(table: dict[str, SplitFile], root: str, base_url: str) -> str:
    """Run in a fresh (spawned) process: it does not share the parent's patched PTB_FILES."""
    ptb.PTB_FILES = table
    return str(ptb_path("train", root=root, base_url=base_url, timeout=10.0, backoff=0.01))


def test_two_processes_downloading_the_same_file(tmp_path, server, fake_files):
    body = fake_files["ptb.train.txt"]
    # Both requests are held until both have arrived, then both bodies trickle in: the two
    # downloads overlap for certain, each into its own .part file, and both rename at the end.
    server.route("/ptb.train.txt", all_at_once(2, send_slowly(body, pieces=4, pause=0.05)))
    context = multiprocessing.get_context("spawn")  # no fork while the server's threads run
    with ProcessPoolExecutor(max_workers=2, mp_context=context) as pool:
        futures = [pool.submit(_download_in_child, ptb.PTB_FILES, str(tmp_path), server.url) for _ in range(2)]
        paths = [future.result(timeout=60) for future in futures]
    assert paths == [str(tmp_path / "ptb.train.txt")] * 2
    assert (tmp_path / "ptb.train.txt").read_bytes() == body
    assert server.count("/ptb.train.txt") == 2  # both really downloaded
    assert only_verified(tmp_path) == ["ptb.train.txt"]
