"""Atomic file writes: a reader sees either the old file or the complete new one, never half.

Every file the package writes (vocabularies, checkpoints, downloads, results) goes through
`atomic_path`: write to a temporary `.part` file in the same directory, flush it to disk,
then `os.replace` it over the target. If anything fails on the way (an exception, Ctrl-C),
the temporary file is removed and the target is untouched.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it replaces `path` atomically."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a directory; give a file path to write to")
    if not path.parent.is_dir():  # mkstemp would blame the temporary '.part' name instead
        raise FileNotFoundError(f"cannot write {path}: the directory {path.parent} does not exist (or is not a "
                                "directory); create it first (e.g. Path(path).parent.mkdir(parents=True))")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb") as f:  # make the bytes durable before the rename
            os.fsync(f.fileno())
        os.chmod(tmp_path, _default_mode())  # mkstemp makes 0600; a normal file is 0666 & ~umask
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def _default_mode() -> int:
    mask = os.umask(0)  # reading the umask means setting it; put it straight back
    os.umask(mask)
    return 0o666 & ~mask
