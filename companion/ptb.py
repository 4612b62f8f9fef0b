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
`DEFAULT_BASE_URL`). Without network, place the three files in the root by hand.
"""
from __future__ import annotations

import errno
import hashlib
import http.client
import math
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from .files import atomic_path

ROOT_ENV = "COURSE_PTB_ROOT"
URL_ENV = "COURSE_PTB_URL"
DEFAULT_ROOT = "~/datasets/ptb"  # the source article's choice
DEFAULT_BASE_URL = "https://raw.githubusercontent.com/tomsercu/lstm/master/data"
CHUNK_BYTES = 1 << 16


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

# (resolved path, size, mtime_ns) -> hex digest. Hashing train (5 MB) on every call would be
# wasteful; a file that changes gets a new size or mtime and is hashed again.
_digest_cache: dict[tuple[str, int, int], str] = {}


class PTBError(RuntimeError):
    """The PTB files could not be found, downloaded or verified; the message says what to do."""


class PTBSettingError(PTBError, ValueError):
    """A PTB setting (an argument or environment variable) is malformed. A PTBError, so that
    `load_corpus("auto")` falls back to the toy language; a ValueError, as a bad value is."""


class _Transient(Exception):
    """A failure worth retrying: 5xx, connection reset, stalled server, truncated body."""


class _Unreachable(Exception):
    """No connection at all (refused, DNS, connect timeout): retrying would only waste time."""


# -- locating and verifying -----------------------------------------------------------
def ptb_root(root: str | os.PathLike | None = None) -> Path:
    """The directory that holds (or will hold) the PTB files: `root` > $COURSE_PTB_ROOT > default."""
    from_env = root is None and bool(os.environ.get(ROOT_ENV))
    folder = Path((os.environ.get(ROOT_ENV) or DEFAULT_ROOT) if root is None else root).expanduser()
    if folder.exists() and not folder.is_dir():
        if from_env:
            raise PTBSettingError(f"{ROOT_ENV}={str(folder)!r} is a file, not a directory for the PTB files; "
                                  f"point it at a directory, or unset it to use {DEFAULT_ROOT}")
        raise ValueError(f"root must be a directory for the PTB files, but {folder} is a file")
    return folder


def _split_file(split: str) -> SplitFile:
    if split not in PTB_FILES:
        raise ValueError(f"split must be one of {list(PTB_FILES)}, got {split!r}")
    return PTB_FILES[split]


def _file_digest(path: Path) -> str:
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _digest_cache:
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            while chunk := f.read(CHUNK_BYTES):
                digest.update(chunk)
        _digest_cache[key] = digest.hexdigest()
    return _digest_cache[key]


def verify_file(path: str | os.PathLike, sha256: str) -> bool:
    """True if `path` is a file whose SHA-256 is `sha256` (cached while the file is unchanged)."""
    path = Path(path)
    return path.is_file() and _file_digest(path) == sha256.lower()


def ptb_available(root: str | os.PathLike | None = None) -> bool:
    """True if all three split files are in the root and verified. Never touches the network."""
    folder = ptb_root(root)
    return all(verify_file(folder / spec.filename, spec.sha256) for spec in PTB_FILES.values())


def manual_instructions(folder: Path, base_url: str) -> str:
    """How to get the files without this module's help (appended to every download error)."""
    lines = [f"To fix it by hand, place these files in {folder} yourself:"]
    for spec in PTB_FILES.values():
        lines.append(f"  {spec.filename}  from {base_url}/{spec.filename}  (sha256 {spec.sha256})")
    lines.append(
        f"or set the {ROOT_ENV} environment variable to a directory that already holds them "
        f"(e.g. export {ROOT_ENV}=/path/to/ptb); {URL_ENV} points downloads at a mirror."
    )
    return "\n".join(lines)


# -- the public entry points ------------------------------------------------------------
def ptb_path(
    split: str,
    root: str | os.PathLike | None = None,
    base_url: str | None = None,
    timeout: float = 10.0,
    download: bool = True,
    attempts: int = 3,
    backoff: float = 0.2,
) -> Path:
    """Path to a verified local copy of `split` ('train', 'valid' or 'test').

    A cached file is checked against its SHA-256 on every call; a missing or corrupt one is
    downloaded (unless `download=False`), with up to `attempts` tries for transient failures,
    sleeping `backoff`, 2*`backoff`, ... in between. `timeout` is per network operation, in s.
    """
    spec = _split_file(split)
    _check_options(timeout, attempts, backoff)
    folder = ptb_root(root)
    if base_url is not None and not isinstance(base_url, str):
        raise TypeError(f"base_url must be a str or None, got {type(base_url).__name__}")
    source = "base_url" if base_url else URL_ENV if os.environ.get(URL_ENV) else None
    base_url = (base_url or os.environ.get(URL_ENV) or DEFAULT_BASE_URL).rstrip("/")
    path = folder / spec.filename
    if path.is_dir():
        raise PTBError(f"{path} is a directory; remove it so the {split} file can go there")
    if verify_file(path, spec.sha256):
        return path
    corrupt = path.exists()  # there, but the bytes are wrong: never used, always replaced
    state = "corrupt (its SHA-256 does not match)" if corrupt else "missing"
    if not download:
        raise PTBError(
            f"{path} is {state} and download=False; "
            f"{'delete it and ' if corrupt else ''}call again with download=True.\n"
            + manual_instructions(folder, base_url)
        )
    _check_base_url(base_url, source, folder)  # before any download: urllib would raise a bare ValueError
    try:
        _download(base_url, path, spec.sha256, timeout, attempts, backoff)
    except PTBError as err:
        if corrupt:  # the bad file stays where it was, and is never returned
            raise PTBError(
                f"{path} is corrupt (its SHA-256 does not match) and could not be downloaded "
                f"again; delete it, then get a good copy.\n{err}"
            ) from None
        raise
    return path


def _check_options(timeout: float, attempts: int, backoff: float) -> None:
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout < math.inf:
        raise ValueError(f"timeout must be a number of seconds > 0, got {timeout!r}")
    if not isinstance(attempts, int) or isinstance(attempts, bool) or attempts < 1:
        raise ValueError(f"attempts must be an integer >= 1, got {attempts!r}")
    if isinstance(backoff, bool) or not isinstance(backoff, (int, float)) or not 0 <= backoff < math.inf:
        raise ValueError(f"backoff must be a number of seconds >= 0, got {backoff!r}")


def _check_base_url(base_url: str, source: str | None, folder: Path) -> None:
    """Refuse a URL urllib cannot fetch from; `source` names where it came from."""
    try:  # urlsplit and .port raise a ValueError themselves for "http://[::1" or "http://host:99999"
        parts = urllib.parse.urlsplit(base_url)
        if (parts.scheme in ("http", "https") and parts.netloc and (parts.port is None or parts.port > 0)
                and not any(c.isspace() for c in base_url) or parts.scheme == "file" and parts.path):
            return
    except ValueError:
        pass
    where = f"${URL_ENV}" if source == URL_ENV else source or "the default URL"
    raise PTBSettingError(
        f"{where} = {base_url!r} is not a URL to download the PTB files from: it must start with http://, "
        f"https:// or file:// (e.g. {DEFAULT_BASE_URL}). Fix it, or unset {URL_ENV} to use that default "
        f"mirror, or place the files in {folder} by hand.")


def load_ptb_text(split: str, **options) -> str:
    """The whole text of a verified split, downloading it first if needed.

    `options` are those of `ptb_path` (root, base_url, timeout, download, attempts, backoff).
    """
    return ptb_path(split, **options).read_text(encoding="utf-8")


# -- downloading -------------------------------------------------------------------------
def _download(base_url: str, dest: Path, sha256: str, timeout: float, attempts: int, backoff: float) -> None:
    """Fetch `dest`'s name from `base_url` atomically, retrying transient failures."""
    url, how_to = f"{base_url}/{dest.name}", manual_instructions(dest.parent, base_url)
    _make_writable_dir(dest.parent, how_to)
    for attempt in range(1, attempts + 1):
        try:
            with atomic_path(dest) as tmp:
                digest = _fetch_once(url, tmp, sha256, timeout)
            break
        except _Unreachable as err:
            raise PTBError(f"cannot reach {url} ({err}); are you offline?\n{how_to}") from None
        except _Transient as err:
            if attempt >= attempts:
                raise PTBError(f"gave up on {url} after {attempt} attempts: {err}\n{how_to}") from None
            time.sleep(backoff * 2 ** (attempt - 1))
        except PTBError as err:  # 404, checksum mismatch: the same request would fail the same way
            raise PTBError(f"{err}\n{how_to}") from None
        except OSError as err:
            if isinstance(err, PermissionError) or err.errno == errno.EROFS:
                raise _not_writable(dest.parent) from err
            raise
    stat = dest.stat()  # the file is verified: remember it so the next call does not rehash
    _digest_cache[(str(dest.resolve()), stat.st_size, stat.st_mtime_ns)] = digest


def _make_writable_dir(folder: Path, how_to: str) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise PTBError(f"cannot create the PTB directory {folder} ({err}).\n{how_to}") from err
    if not os.access(folder, os.W_OK | os.X_OK):
        raise _not_writable(folder)


def _not_writable(folder: Path) -> PTBError:
    return PTBError(
        f"the PTB directory {folder} is not writable, so nothing can be downloaded into it. "
        f"Set {ROOT_ENV} (or pass root=) to a writable directory, or place the files there by hand."
    )


def _fetch_once(url: str, tmp: Path, sha256: str, timeout: float) -> str:
    """One GET of `url`, streamed into `tmp`; returns the verified hex digest."""
    request = urllib.request.Request(url, headers={"User-Agent": "companion-ptb"})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as err:
        err.close()  # it holds the open connection
        if err.code >= 500 or err.code == 429:
            raise _Transient(f"HTTP {err.code} {err.reason}") from None
        raise PTBError(f"downloading {url} failed with HTTP {err.code} {err.reason}") from None
    except urllib.error.URLError as err:  # urllib wraps only connect-time errors in URLError
        raise _Unreachable(err.reason) from None
    except (OSError, http.client.HTTPException) as err:  # connected, then reset or stalled
        raise _Transient(_broken(err, "before the body", timeout)) from None
    except ValueError as err:  # e.g. a malformed $COURSE_PTB_URL
        raise PTBError(f"cannot download {url!r}: {err}; check {URL_ENV} or base_url") from None
    with response:
        digest, received = _stream(response, tmp, timeout)
        declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and received < int(declared):
        raise _Transient(f"the download was truncated: got {received} of {declared} bytes")
    if digest != sha256.lower():
        raise PTBError(
            f"the file downloaded from {url} has SHA-256 {digest}, expected {sha256}; "
            "nothing was saved (the server may hold a different version)"
        )
    return digest


def _stream(response: http.client.HTTPResponse, tmp: Path, timeout: float) -> tuple[str, int]:
    """Copy the body into `tmp` chunk by chunk, hashing as we go. Returns (digest, byte count)."""
    digest, received = hashlib.sha256(), 0
    with open(tmp, "wb") as out:
        while True:
            try:
                chunk = response.read(CHUNK_BYTES)
            except (OSError, http.client.HTTPException) as err:  # reset, read timeout, bad chunk
                raise _Transient(_broken(err, f"after {received} bytes", timeout)) from None
            if not chunk:
                return digest.hexdigest(), received
            out.write(chunk)
            digest.update(chunk)
            received += len(chunk)


def _broken(err: Exception, when: str, timeout: float) -> str:
    """Why a transfer stopped, in words: a stalled server reads differently from a reset."""
    if isinstance(err, TimeoutError):  # socket.timeout is TimeoutError since Python 3.10
        return (f"the server sent nothing for {timeout} s {when} (timeout={timeout}); "
                "on a slow network pass a larger timeout=")
    return f"the connection broke {when} ({err!r})"
