"""One download layer for every data set the course reads: declared, verified, cached, atomic.

A `Source` declares a data set the way torchtext declares PTB: where it lives on disk (an
argument > an environment variable > a default folder), where to fetch it from (likewise),
and the SHA-256 of every file. `fetch(source, name)` returns the path of a verified local copy:

- a cached file is checked against its hash on every call (the digest is cached while the
  file's size and mtime stay the same), and a corrupt one is never used, always replaced;
- a download streams into a `.part` file beside the target (`files.atomic_path`), is checked,
  and only then renamed: a file under its real name is always complete;
- 5xx, 429, resets, stalls and truncated bodies are retried with back-off; 404, a wrong hash,
  no connection at all and an unwritable folder fail at once; every error says how to place
  the files by hand.

We keep this instead of pooch (which does much the same) because the course's fault tests pin
behaviour pooch leaves open: no retry without a connection, a stall reported as a stall, and
refusing a malformed mirror URL before any request.
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

CHUNK_BYTES = 1 << 16
# (resolved path, size, mtime_ns) -> hex digest: a file that changes is hashed again
_digest_cache: dict[tuple[str, int, int], str] = {}


class DownloadError(RuntimeError):
    """Files could not be found, downloaded or verified; the message says what to do."""


class DownloadSettingError(DownloadError, ValueError):
    """A setting (argument or environment variable) is malformed: a ValueError too."""


@dataclass(frozen=True)
class Source:
    name: str  # how messages call it: "PTB", "Tang poems"
    root_env: str  # environment variable naming the local folder
    default_root: str  # the folder when neither argument nor variable says
    url_env: str  # environment variable naming a mirror
    default_base_url: str
    files: dict  # path relative to the root and the base URL -> SHA-256
    error: type = DownloadError  # raised on failures (a subclass per data set)
    setting_error: type = DownloadSettingError  # raised on malformed settings


def source_root(source: Source, root: str | os.PathLike | None = None) -> Path:
    """The folder that holds (or will hold) the files: `root` > $root_env > default."""
    from_env = root is None and bool(os.environ.get(source.root_env))
    folder = Path((os.environ.get(source.root_env) or source.default_root) if root is None else root).expanduser()
    if folder.exists() and not folder.is_dir():
        if from_env:
            raise source.setting_error(
                f"{source.root_env}={str(folder)!r} is a file, not a directory for the {source.name} files; "
                f"point it at a directory, or unset it to use {source.default_root}")
        raise ValueError(f"root must be a directory for the {source.name} files, but {folder} is a file")
    return folder


def verify_file(path: str | os.PathLike, sha256: str) -> bool:
    """True if `path` is a file whose SHA-256 is `sha256` (cached while the file is unchanged)."""
    path = Path(path)
    return path.is_file() and _file_digest(path) == sha256.lower()


def available(source: Source, root: str | os.PathLike | None = None) -> bool:
    """True if every file of `source` is in its root and verified. Never touches the network."""
    folder = source_root(source, root)
    return all(verify_file(folder / name, sha) for name, sha in source.files.items())


def manual_instructions(source: Source, folder: Path, base_url: str) -> str:
    """How to get the files without this module's help (appended to every download error)."""
    lines = [f"To fix it by hand, place these files in {folder} yourself:"]
    if len(source.files) <= 5:
        lines += [f"  {name}  from {_url(base_url, name)}  (sha256 {sha})" for name, sha in source.files.items()]
    else:
        first = next(iter(source.files))
        lines.append(f"  the {len(source.files)} files listed with their SHA-256 in the package's manifest, "
                     f"each from {base_url}/<path> (e.g. {_url(base_url, first)})")
    lines.append(
        f"or set the {source.root_env} environment variable to a directory that already holds them "
        f"(e.g. export {source.root_env}=/path/to/files); {source.url_env} points downloads at a mirror.")
    return "\n".join(lines)


def fetch(source: Source, name: str, root: str | os.PathLike | None = None, base_url: str | None = None,
          timeout: float = 10.0, download: bool = True, attempts: int = 3, backoff: float = 0.2) -> Path:
    """Path to a verified local copy of the file `name` of `source`.

    A missing or corrupt file is downloaded (unless `download=False`), with up to `attempts`
    tries for transient failures, sleeping `backoff`, 2*`backoff`, ... in between. `timeout`
    is per network operation, in seconds.
    """
    if name not in source.files:
        raise ValueError(f"{source.name} has no file {name!r}")
    _check_options(timeout, attempts, backoff)
    folder = source_root(source, root)
    if base_url is not None and not isinstance(base_url, str):
        raise TypeError(f"base_url must be a str or None, got {type(base_url).__name__}")
    origin = "base_url" if base_url else source.url_env if os.environ.get(source.url_env) else None
    base_url = (base_url or os.environ.get(source.url_env) or source.default_base_url).rstrip("/")
    path, sha256 = folder / name, source.files[name]
    if path.is_dir():
        raise source.error(f"{path} is a directory; remove it so the file {name} can go there")
    if verify_file(path, sha256):
        return path
    corrupt = path.exists()  # there, but the bytes are wrong: never used, always replaced
    if not download:
        state = "corrupt (its SHA-256 does not match)" if corrupt else "missing"
        raise source.error(f"{path} is {state} and download=False; {'delete it and ' if corrupt else ''}"
                           f"call again with download=True.\n" + manual_instructions(source, folder, base_url))
    _check_base_url(source, base_url, origin, folder)  # urllib would raise a bare ValueError
    try:
        _download(source, _url(base_url, name), path, sha256, timeout, attempts, backoff,
                  manual_instructions(source, folder, base_url))
    except source.error as err:
        if corrupt:  # the bad file stays where it was, and is never returned
            raise source.error(f"{path} is corrupt (its SHA-256 does not match) and could not be downloaded "
                               f"again; delete it, then get a good copy.\n{err}") from None
        raise
    return path


def _url(base_url: str, name: str) -> str:
    return f"{base_url}/{urllib.parse.quote(name)}"  # Chinese folder names are percent-encoded


def _check_options(timeout: float, attempts: int, backoff: float) -> None:
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout < math.inf:
        raise ValueError(f"timeout must be a number of seconds > 0, got {timeout!r}")
    if not isinstance(attempts, int) or isinstance(attempts, bool) or attempts < 1:
        raise ValueError(f"attempts must be an integer >= 1, got {attempts!r}")
    if isinstance(backoff, bool) or not isinstance(backoff, (int, float)) or not 0 <= backoff < math.inf:
        raise ValueError(f"backoff must be a number of seconds >= 0, got {backoff!r}")


def _check_base_url(source: Source, base_url: str, origin: str | None, folder: Path) -> None:
    """Refuse a URL urllib cannot fetch from; `origin` names where it came from."""
    try:  # urlsplit and .port raise a ValueError themselves for "http://[::1" or "http://host:99999"
        parts = urllib.parse.urlsplit(base_url)
        if (parts.scheme in ("http", "https") and parts.netloc and (parts.port is None or parts.port > 0)
                and not any(c.isspace() for c in base_url) or parts.scheme == "file" and parts.path):
            return
    except ValueError:
        pass
    where = f"${source.url_env}" if origin == source.url_env else origin or "the default URL"
    raise source.setting_error(
        f"{where} = {base_url!r} is not a URL to download the {source.name} files from: it must start with "
        f"http://, https:// or file:// (e.g. {source.default_base_url}). Fix it, or unset {source.url_env} "
        f"to use that default mirror, or place the files in {folder} by hand.")


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


class _Transient(Exception):
    """A failure worth retrying: 5xx, connection reset, stalled server, truncated body."""


class _Unreachable(Exception):
    """No connection at all (refused, DNS, connect timeout): retrying would only waste time."""


def _download(source: Source, url: str, dest: Path, sha256: str, timeout: float, attempts: int,
              backoff: float, how_to: str) -> None:
    """Fetch `url` into `dest` atomically, retrying transient failures."""
    _make_writable_dir(source, dest.parent, how_to)
    for attempt in range(1, attempts + 1):
        try:
            with atomic_path(dest) as tmp:
                digest = _fetch_once(source, url, tmp, sha256, timeout)
            break
        except _Unreachable as err:
            raise source.error(f"cannot reach {url} ({err}); are you offline?\n{how_to}") from None
        except _Transient as err:
            if attempt >= attempts:
                raise source.error(f"gave up on {url} after {attempt} attempts: {err}\n{how_to}") from None
            time.sleep(backoff * 2 ** (attempt - 1))
        except source.error as err:  # 404, checksum mismatch: the same request would fail the same way
            raise source.error(f"{err}\n{how_to}") from None
        except OSError as err:
            if isinstance(err, PermissionError) or err.errno == errno.EROFS:
                raise _not_writable(source, dest.parent) from err
            raise
    stat = dest.stat()  # the file is verified: remember it so the next call does not rehash
    _digest_cache[(str(dest.resolve()), stat.st_size, stat.st_mtime_ns)] = digest


def _make_writable_dir(source: Source, folder: Path, how_to: str) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise source.error(f"cannot create the {source.name} directory {folder} ({err}).\n{how_to}") from err
    if not os.access(folder, os.W_OK | os.X_OK):
        raise _not_writable(source, folder)


def _not_writable(source: Source, folder: Path) -> DownloadError:
    return source.error(
        f"the {source.name} directory {folder} is not writable, so nothing can be downloaded into it. "
        f"Set {source.root_env} (or pass root=) to a writable directory, or place the files there by hand.")


def _fetch_once(source: Source, url: str, tmp: Path, sha256: str, timeout: float) -> str:
    """One GET of `url`, streamed into `tmp`; returns the verified hex digest."""
    request = urllib.request.Request(url, headers={"User-Agent": "companion-download"})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as err:
        err.close()  # it holds the open connection
        if err.code >= 500 or err.code == 429:
            raise _Transient(f"HTTP {err.code} {err.reason}") from None
        raise source.error(f"downloading {url} failed with HTTP {err.code} {err.reason}") from None
    except urllib.error.URLError as err:  # urllib wraps only connect-time errors in URLError
        raise _Unreachable(err.reason) from None
    except (OSError, http.client.HTTPException) as err:  # connected, then reset or stalled
        raise _Transient(_broken(err, "before the body", timeout)) from None
    except ValueError as err:  # a URL urllib cannot parse, despite _check_base_url
        raise source.error(f"cannot download {url!r}: {err}; check {source.url_env} or base_url") from None
    with response:
        digest, received = _stream(response, tmp, timeout)
        declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and received < int(declared):
        raise _Transient(f"the download was truncated: got {received} of {declared} bytes")
    if digest != sha256.lower():
        raise source.error(f"the file downloaded from {url} has SHA-256 {digest}, expected {sha256}; "
                           "nothing was saved (the server may hold a different version)")
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
