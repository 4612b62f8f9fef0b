"""The PTB loader against a real local HTTP server serving small fake splits (offline, fast)."""
from __future__ import annotations

import hashlib
import os
import tempfile
import time
from pathlib import Path

import pytest

from companion import download, ptb
from companion.ptb import PTBError, SplitFile, load_ptb_text, ptb_available, ptb_path, verify_file
from http_helpers import LocalServer, closed_port_url, in_turn, send_bytes, send_status, send_truncated

FAST = dict(timeout=2.0, backoff=0.01)  # keep retries quick; the defaults are for real networks
REPO = Path(__file__).resolve().parents[1]
SHARED_PTB = [Path("/work/shared/data/ptb"), REPO.parent / "shared" / "data" / "ptb"]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    """No test sees the developer's env vars or another test's verification cache."""
    monkeypatch.delenv(ptb.ROOT_ENV, raising=False)
    monkeypatch.delenv(ptb.URL_ENV, raising=False)
    monkeypatch.setattr(download, "_digest_cache", {})


@pytest.fixture
def fake_files(monkeypatch) -> dict[str, bytes]:
    """Small stand-ins for the three splits; PTB_FILES is patched to expect exactly these bytes."""
    files, table = {}, {}
    for split, num_lines in [("train", 30), ("valid", 5), ("test", 6)]:
        name = f"ptb.{split}.txt"
        files[name] = "".join(f" {split} sentence {i} <unk> \n" for i in range(num_lines)).encode()
        table[split] = SplitFile(name, hashlib.sha256(files[name]).hexdigest(), num_lines)
    monkeypatch.setattr(ptb, "PTB_FILES", table)
    return files


@pytest.fixture
def server(fake_files):
    with LocalServer() as srv:
        srv.serve_files(fake_files)
        yield srv


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# -- success and caching --------------------------------------------------------------------
def test_downloads_all_splits_verified(tmp_path, server, fake_files):
    root = tmp_path / "nested" / "ptb"  # created on demand
    assert not ptb_available(root) and not root.exists()  # asking never creates anything
    for split in ptb.PTB_SPLITS:
        path = ptb_path(split, root=root, base_url=server.url, **FAST)
        assert path == root / f"ptb.{split}.txt"
        assert path.read_bytes() == fake_files[path.name]
    assert load_ptb_text("valid", root=root, base_url=server.url) == fake_files["ptb.valid.txt"].decode()
    assert listing(root) == sorted(fake_files)  # no .part left behind
    assert ptb_available(root)
    assert server.count() == 3


def test_cache_hit_does_not_contact_server(tmp_path, server):
    ptb_path("train", root=tmp_path, base_url=server.url, **FAST)
    download._digest_cache.clear()  # even a fresh process (which must rehash) stays offline
    for _ in range(3):
        ptb_path("train", root=tmp_path, base_url=server.url, **FAST)
    assert server.count("/ptb.train.txt") == 1


def test_verification_is_cached_until_the_file_changes(tmp_path, monkeypatch):
    path = tmp_path / "f.txt"
    path.write_bytes(b"abc")
    good = hashlib.sha256(b"abc").hexdigest()
    assert verify_file(path, good) and not verify_file(path, "0" * 64)
    hashed = []
    real_sha256 = hashlib.sha256
    monkeypatch.setattr(download.hashlib, "sha256", lambda: hashed.append(1) or real_sha256())
    assert verify_file(path, good) and hashed == []  # served from the cache
    path.write_bytes(b"abcd")  # new size: hashed again, and now wrong
    assert not verify_file(path, good) and hashed == [1]
    assert not verify_file(tmp_path / "missing.txt", good)


def test_corrupt_cached_file_is_downloaded_again(tmp_path, server, fake_files):
    path = ptb_path("test", root=tmp_path, base_url=server.url, **FAST)
    path.write_bytes(b"garbage")
    assert not ptb_available(tmp_path)
    assert ptb_path("test", root=tmp_path, base_url=server.url, **FAST) == path
    assert path.read_bytes() == fake_files["ptb.test.txt"]
    assert server.count("/ptb.test.txt") == 2


def test_corrupt_file_that_cannot_be_replaced_is_never_used(tmp_path, fake_files):
    path = tmp_path / "ptb.valid.txt"
    path.write_bytes(b"garbage")
    with pytest.raises(PTBError, match="corrupt") as info:
        ptb_path("valid", root=tmp_path, download=False)
    assert "delete it" in str(info.value)
    with pytest.raises(PTBError, match="corrupt.*delete it"):
        ptb_path("valid", root=tmp_path, base_url=closed_port_url(), **FAST)


# -- faults: nothing half-written ever remains ------------------------------------------------
def test_checksum_mismatch_leaves_nothing_and_is_not_retried(tmp_path, server):
    server.route("/ptb.valid.txt", send_bytes(b"not the real valid split\n"))
    with pytest.raises(PTBError, match="SHA-256"):
        ptb_path("valid", root=tmp_path, base_url=server.url, **FAST)
    assert listing(tmp_path) == []
    assert server.count("/ptb.valid.txt") == 1


def test_truncated_body_is_retried_then_fails_without_partial_file(tmp_path, server, fake_files):
    server.route("/ptb.train.txt", send_truncated(fake_files["ptb.train.txt"][:100]))
    with pytest.raises(PTBError, match="truncated"):
        ptb_path("train", root=tmp_path, base_url=server.url, attempts=3, **FAST)
    assert listing(tmp_path) == []
    assert server.count("/ptb.train.txt") == 3


def test_server_error_is_retried_and_reported(tmp_path, server):
    server.route("/ptb.train.txt", send_status(500))
    with pytest.raises(PTBError, match="500") as info:
        ptb_path("train", root=tmp_path, base_url=server.url, attempts=3, **FAST)
    assert "3 attempts" in str(info.value)
    assert server.count("/ptb.train.txt") == 3
    assert listing(tmp_path) == []


def test_transient_error_then_success(tmp_path, server, fake_files, monkeypatch):
    sleeps = []
    monkeypatch.setattr(download.time, "sleep", sleeps.append)
    body = fake_files["ptb.train.txt"]
    server.route("/ptb.train.txt", in_turn(send_status(503), send_truncated(body[:10]), send_bytes(body)))
    path = ptb_path("train", root=tmp_path, base_url=server.url, attempts=3, backoff=0.2)
    assert path.read_bytes() == body
    assert sleeps == [0.2, 0.4]  # exponential back-off
    assert listing(tmp_path) == ["ptb.train.txt"]


def test_not_found_is_not_retried(tmp_path, server):
    with pytest.raises(PTBError, match="404"):
        ptb_path("valid", root=tmp_path, base_url=server.url + "/nowhere", **FAST)
    assert server.count() == 1
    assert listing(tmp_path) == []


def test_unreachable_server_fails_fast_with_manual_instructions(tmp_path, fake_files):
    start = time.monotonic()
    with pytest.raises(PTBError) as info:
        ptb_path("train", root=tmp_path, base_url=closed_port_url(), attempts=3, backoff=1.0)
    assert time.monotonic() - start < 3  # no retries, no back-off for a refused connection
    message = str(info.value)
    assert "place these files" in message and str(tmp_path) in message
    assert all(name in message for name in fake_files)
    assert ptb.ROOT_ENV in message
    assert listing(tmp_path) == []


def test_download_false_never_uses_the_network(tmp_path, server):
    with pytest.raises(PTBError, match="missing.*download=False"):
        ptb_path("train", root=tmp_path, base_url=server.url, download=False)
    assert server.count() == 0


# -- arguments, environment, directories ------------------------------------------------------
def test_root_that_is_a_file_is_rejected(tmp_path):
    a_file = tmp_path / "ptb"
    a_file.write_text("")
    for call in (lambda: ptb_path("train", root=a_file), lambda: ptb_available(a_file)):
        with pytest.raises(ValueError, match="root"):
            call()


def test_bad_split_is_rejected(tmp_path):
    with pytest.raises(ValueError, match=r"split must be one of \['train', 'valid', 'test'\]"):
        ptb_path("training", root=tmp_path)


def test_environment_variables_choose_root_and_url(tmp_path, server, monkeypatch, fake_files):
    monkeypatch.setenv(ptb.ROOT_ENV, str(tmp_path / "from-env"))
    monkeypatch.setenv(ptb.URL_ENV, server.url + "/")  # a trailing slash is fine
    path = ptb_path("valid", **FAST)
    assert path == tmp_path / "from-env" / "ptb.valid.txt"
    assert path.read_bytes() == fake_files["ptb.valid.txt"]
    other = tmp_path / "explicit"  # arguments beat the environment
    assert ptb_path("valid", root=other, base_url=server.url, **FAST).parent == other


def test_default_root_is_under_home(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert ptb.ptb_root() == tmp_path / "datasets" / "ptb"


def test_unwritable_root_gives_a_clear_error(tmp_path, server, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)  # what a read-only directory does (even to root)
    with pytest.raises(PTBError, match="not writable") as info:
        ptb_path("train", root=tmp_path, base_url=server.url, **FAST)
    assert ptb.ROOT_ENV in str(info.value)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root ignores file permissions")
def test_read_only_directory_gives_a_clear_error(tmp_path, server):
    root = tmp_path / "ro"
    root.mkdir()
    root.chmod(0o555)
    try:
        with pytest.raises(PTBError, match="not writable"):
            ptb_path("train", root=root, base_url=server.url, **FAST)
        assert server.count() == 0  # checked before any network
    finally:
        root.chmod(0o755)


# -- the real files, when the course's shared copy is mounted ---------------------------------
@pytest.mark.skipif(not any(p.is_dir() for p in SHARED_PTB), reason="no shared copy of PTB here")
def test_real_files_match_the_declared_checksums_and_line_counts():
    root = next(p for p in SHARED_PTB if p.is_dir())
    before = listing(root)
    assert ptb_available(root)
    for split, spec in ptb.PTB_FILES.items():
        path = ptb_path(split, root=root, download=False)  # read-only: must never write
        assert verify_file(path, spec.sha256)
        with open(path, "rb") as f:
            assert sum(1 for _ in f) == spec.num_lines
    assert listing(root) == before
