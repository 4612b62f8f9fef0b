"""全唐诗 on disk: the 58 JSON files of the `chinese-poetry` compilation at a pinned commit.

    root/                       argument `root` > $COURSE_POETRY_ROOT > ~/datasets/chinese-poetry
    └── 全唐诗/
        ├── poet.tang.0.json    1,000 poems each, 57,607 in all, traditional script
        ├── ...
        └── poet.tang.57000.json

Files are fetched from `base_url + "/" + path` (argument `base_url` > $COURSE_POETRY_URL >
GitHub's raw files at `TANG_COMMIT`) and checked against the SHA-256 manifest shipped in
`companion/records/chinese_poetry.sha256`, through the same download layer as PTB. Without
network, the 14,540 quatrains shipped with the package (`poetry.shipped_quatrains`) need
no files at all.
"""
from __future__ import annotations

import functools
import json
import os
import re
from importlib import resources

from .download import DownloadError, DownloadSettingError, Source, available, fetch
from .poetry import PoemSet, parse_poems

TANG_COMMIT = "99ebbef7e1345c0985c44b9fd96a3f9e776f117b"
ROOT_ENV = "COURSE_POETRY_ROOT"
URL_ENV = "COURSE_POETRY_URL"
DEFAULT_ROOT = "~/datasets/chinese-poetry"
DEFAULT_BASE_URL = f"https://raw.githubusercontent.com/chinese-poetry/chinese-poetry/{TANG_COMMIT}"
_TANG_FILE = re.compile(r"^全唐诗/poet\.tang\.(\d+)\.json$")


class PoetryError(DownloadError):
    """The poetry files could not be found, downloaded or verified; the message says what to do."""


class PoetrySettingError(PoetryError, DownloadSettingError):
    """A poetry setting (argument or environment variable) is malformed."""


@functools.cache
def tang_source() -> Source:
    """The declared data set: every file of the shipped manifest with its SHA-256."""
    text = (resources.files("companion.records") / "chinese_poetry.sha256").read_text(encoding="utf-8")
    files = {}
    for line in text.splitlines():
        if line.strip():
            sha256, path = line.split(maxsplit=1)
            files[path.strip()] = sha256
    return Source("Tang poems", ROOT_ENV, DEFAULT_ROOT, URL_ENV, DEFAULT_BASE_URL, files,
                  PoetryError, PoetrySettingError)


def tang_files() -> list[str]:
    """The 58 files of 全唐诗 in order (poet.tang.0.json, poet.tang.1000.json, ...)."""
    names = [name for name in tang_source().files if _TANG_FILE.match(name)]
    return sorted(names, key=lambda name: int(_TANG_FILE.match(name).group(1)))


def tang_available(root: str | os.PathLike | None = None) -> bool:
    """True if every file is on disk and verified; never touches the network."""
    return available(tang_source(), root)


def load_tang(root: str | os.PathLike | None = None, download: bool = True, **options) -> PoemSet:
    """Every usable poem of 全唐诗, in file order, downloading missing files first.

    `options` are those of `download.fetch` (base_url, timeout, attempts, backoff).
    """
    poems, dropped = [], 0
    for name in tang_files():
        path = fetch(tang_source(), name, root=root, download=download, **options)
        try:
            entries = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:  # verified bytes cannot be bad; be clear anyway
            raise PoetryError(f"{path} is not readable JSON ({err}); delete it and load again") from err
        parsed = parse_poems(entries)
        poems += parsed.poems
        dropped += parsed.dropped
    return PoemSet(poems, dropped)
