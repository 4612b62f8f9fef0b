"""The Penn Treebank (PTB) word-level corpus: declared, downloaded once, verified every time.

Each split is one plain-text file, one sentence per line, already lower-cased with rare words
replaced by `<unk>` (9,999 word types; 10,000 once `<eos>` is added). The table `PTB_FILES`
declares, per split, the file name, its SHA-256 and its line count, the way torchtext's loader
does. Unlike torchtext, a download never writes to the final path: bytes stream into a `.part`
file beside it (`files.atomic_path`), the checksum is checked, and only then is it renamed. So
a file that sits in the root under its real name is always complete.

    root/                      argument `root` > $COURSE_PTB_ROOT > ~/datasets/ptb
    ├── ptb.train.txt          42,068 lines
    ├── ptb.valid.txt           3,370 lines
    └── ptb.test.txt            3,761 lines

Files are fetched from `base_url + "/" + file name` (argument `base_url` > $COURSE_PTB_URL >
`DEFAULT_BASE_URL`) by the course's one download layer (`companion.download`), which the Tang
poems use too. Without network, place the three files in the root by hand.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from . import download
from .download import DownloadError, DownloadSettingError, Source, fetch, source_root, verify_file

__all__ = ["PTBError", "PTBSettingError", "PTB_FILES", "PTB_SPLITS", "SplitFile", "load_ptb_text",
           "manual_instructions", "ptb_available", "ptb_path", "ptb_root", "verify_file"]

ROOT_ENV = "COURSE_PTB_ROOT"
URL_ENV = "COURSE_PTB_URL"
DEFAULT_ROOT = "~/datasets/ptb"  # the source article's choice
DEFAULT_BASE_URL = "https://raw.githubusercontent.com/tomsercu/lstm/master/data"


@dataclass(frozen=True)
class SplitFile:
    """What we expect one split's file to be."""

    filename: str  # name inside the root directory and at the end of the URL
    sha256: str  # hex digest of the exact bytes
    num_lines: int  # informative: what `wc -l` prints for the real file


PTB_FILES: dict[str, SplitFile] = {
    "train": SplitFile("ptb.train.txt", "fcea919f6cf83f35d4d00c6cbf08040d13d4155226340912e2fef9c9c4102cbf", 42068),
    "valid": SplitFile("ptb.valid.txt", "c9fe6985fe0d4ccb578183407d7668fc6066c20700cb4cf87d8ff1cc34df1bf2", 3370),
    "test": SplitFile("ptb.test.txt", "dd65dff31e70846b2a6030a87482edcd5d199130cdcfa1f3dccbb033728deee0", 3761),
}
PTB_SPLITS = tuple(PTB_FILES)


class PTBError(DownloadError):
    """The PTB files could not be found, downloaded or verified; the message says what to do."""


class PTBSettingError(PTBError, DownloadSettingError):
    """A PTB setting (an argument or environment variable) is malformed. A PTBError, so that
    `load_corpus("auto")` falls back to the toy language; a ValueError, as a bad value is."""


def ptb_source() -> Source:
    """PTB as the download layer sees it (built from `PTB_FILES` each time, so tests can swap it)."""
    files = {spec.filename: spec.sha256 for spec in PTB_FILES.values()}
    return Source("PTB", ROOT_ENV, DEFAULT_ROOT, URL_ENV, DEFAULT_BASE_URL, files, PTBError, PTBSettingError)


def ptb_root(root: str | os.PathLike | None = None) -> Path:
    """The directory that holds (or will hold) the PTB files: `root` > $COURSE_PTB_ROOT > default."""
    return source_root(ptb_source(), root)


def _split_file(split: str) -> SplitFile:
    if split not in PTB_FILES:
        raise ValueError(f"split must be one of {list(PTB_FILES)}, got {split!r}")
    return PTB_FILES[split]


def ptb_available(root: str | os.PathLike | None = None) -> bool:
    """True if all three split files are in the root and verified. Never touches the network."""
    folder = ptb_root(root)
    return all(verify_file(folder / spec.filename, spec.sha256) for spec in PTB_FILES.values())


def manual_instructions(folder: Path, base_url: str) -> str:
    """How to get the files without this module's help (appended to every download error)."""
    return download.manual_instructions(ptb_source(), folder, base_url)


def ptb_path(split: str, root: str | os.PathLike | None = None, base_url: str | None = None,
             timeout: float = 10.0, download: bool = True, attempts: int = 3, backoff: float = 0.2) -> Path:
    """Path to a verified local copy of `split` ('train', 'valid' or 'test').

    A cached file is checked against its SHA-256 on every call; a missing or corrupt one is
    downloaded (unless `download=False`), with up to `attempts` tries for transient failures,
    sleeping `backoff`, 2*`backoff`, ... in between. `timeout` is per network operation, in s.
    """
    spec = _split_file(split)
    return fetch(ptb_source(), spec.filename, root, base_url, timeout, download, attempts, backoff)


def load_ptb_text(split: str, **options) -> str:
    """The whole text of a verified split, downloading it first if needed.

    `options` are those of `ptb_path` (root, base_url, timeout, download, attempts, backoff).
    """
    return ptb_path(split, **options).read_text(encoding="utf-8")
