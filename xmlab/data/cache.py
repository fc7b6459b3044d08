"""Files of real data sets: from the cache, a classroom mirror or the internet, always checked.

Every file has a pinned SHA-256. :func:`ensure_file` looks for it in this order:

1. the cache folder (``$XMLAB_DATA``, else ``~/.cache/xmlab``): a copy that still hashes right
   is used as it is;
2. the classroom mirror ``$XMLAB_MIRROR``, when set: a folder (a shared drive, ``file://...``)
   or a URL prefix (``http://classroom-server/xmlab``) holding the same files, laid out like
   the cache (``fsdd/``, ``mnist/``, ``fashion-mnist/``) or all in one folder;
3. the internet: the dataset's own mirrors, in order.

Whatever a source sends is checked *before* it is written, and written atomically (a temporary
file in the same folder, then ``os.replace``), so the cache never holds a partial or corrupted
file. A source that sends the wrong bytes -- a captive portal's login page, a truncated copy, a
different version -- is skipped like one that does not answer; when every source fails, the
error lists what each one did. ``fetch`` (``url -> bytes``) is injectable: tests serve fixture
bytes in the real formats.

Explained in: docs/teaching.md (a classroom mirror) and notebooks/08_real_data.ipynb
"""

from __future__ import annotations

import errno
import gzip
import hashlib
import os
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from xmlab import utils

ENV_VAR = "XMLAB_DATA"  # the cache folder
MIRROR_VAR = "XMLAB_MIRROR"  # the classroom mirror: a folder or a URL prefix
URL_SCHEMES = ("http://", "https://", "ftp://")
Fetch = Callable[[str], bytes]


@dataclass(frozen=True)
class RemoteFile:
    """One file to download: where from, and what its bytes must hash to."""

    name: str  # file name in the cache folder
    urls: tuple[str, ...]  # mirrors, tried in order
    sha256: str  # hex digest of the file, or of its gunzipped content when `gunzipped`
    gunzipped: bool = False  # hash the decompressed bytes (the archive may be recompressed)


class DataUnavailableError(RuntimeError):
    """A dataset file could not be obtained (offline, no mirror answered, cache not writable)."""


class ChecksumError(ValueError):
    """Downloaded or cached bytes do not match the pinned SHA-256."""


def cache_dir(root: str | os.PathLike | None = None) -> Path:
    """The cache folder: ``root`` if given, else ``$XMLAB_DATA``, else ``~/.cache/xmlab``."""
    if root is not None:
        return Path(root)
    env = os.environ.get(ENV_VAR)
    return Path(env) if env else Path.home() / ".cache" / "xmlab"


def urllib_fetch(url: str, timeout: float = 60.0) -> bytes:
    """Default fetch: the whole body of ``url`` (raises ``OSError`` when offline)."""
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (pinned URLs)
        return response.read()


def gunzip(data: bytes, source: str) -> bytes:
    """Decompress gzip bytes, or say clearly that ``source`` is not a complete gzip file."""
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, gzip.BadGzipFile) as err:
        raise ValueError(
            f"{source} is not a complete gzip file ({err}): it is corrupted or truncated; "
            "delete it and download again"
        ) from err


def sha256_of(data: bytes, *, gunzipped: bool = False) -> str:
    """Hex SHA-256 of ``data`` (of its decompressed content when ``gunzipped``)."""
    if gunzipped:
        data = gunzip(data, "download")
    return hashlib.sha256(data).hexdigest()


def verify(data: bytes, remote: RemoteFile, source: str) -> None:
    """Raise :class:`ChecksumError` unless ``data`` hashes to ``remote.sha256``."""
    try:
        digest = sha256_of(data, gunzipped=remote.gunzipped)
    except ValueError as err:  # not even gzip: an HTML page, a truncated file
        raise ChecksumError(f"{remote.name} from {source} is not the expected file: {err}") from err
    if digest != remote.sha256:
        raise ChecksumError(
            f"{remote.name} from {source} has sha256 {digest}, expected {remote.sha256}: the "
            "file is corrupted, truncated or a different version; nothing was kept. Try again, "
            "or download it by hand from one of " + ", ".join(remote.urls)
        )


_UNWRITABLE = (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR, errno.EEXIST)


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` all or nothing (:func:`xmlab.utils.atomic_write`); a cache
    folder that cannot be written gets a :class:`DataUnavailableError` that says what to do."""
    try:
        utils.atomic_write(path, data)
    except OSError as err:
        if err.errno not in _UNWRITABLE:
            raise  # e.g. a full disk: its message says so already
        raise DataUnavailableError(
            f"cannot write to the cache folder {path.parent} ({err.strerror}): set the "
            f"{ENV_VAR} environment variable to a folder you can write, or pass root=..."
        ) from err


def is_url(source: str) -> bool:
    """Whether ``source`` is fetched over the network (else it is a path on this machine)."""
    return source.lower().startswith(URL_SCHEMES)


def mirror_sources(name: str, subdir: str, mirror: str | None = None) -> list[str]:
    """Where the classroom mirror may hold ``name``: ``<mirror>/<subdir>/<name>``, then
    ``<mirror>/<name>``. ``mirror`` defaults to ``$XMLAB_MIRROR``; unset or empty: none."""
    mirror = os.environ.get(MIRROR_VAR, "") if mirror is None else mirror
    mirror = mirror.strip()
    if not mirror:
        return []
    if is_url(mirror):
        base = mirror.rstrip("/")
        return [f"{base}/{subdir}/{name}", f"{base}/{name}"]
    folder = Path(mirror.removeprefix("file://")).expanduser()
    return [str(folder / subdir / name), str(folder / name)]


def read_source(source: str, fetch: Fetch) -> bytes:
    """The bytes at ``source``: a URL through ``fetch``, a path from the disk."""
    if is_url(source):
        return fetch(source)
    path = Path(source)
    if not path.is_file():
        raise FileNotFoundError("not there" + ("" if path.parent.is_dir() else " (no folder)"))
    return path.read_bytes()


def _cached(path: Path, remote: RemoteFile) -> bool:
    """Whether ``path`` holds a good copy; a damaged or stale copy is removed, or explained."""
    if not path.exists():
        return False
    try:
        verify(path.read_bytes(), remote, str(path))
        return True
    except ChecksumError:
        pass
    try:
        path.unlink()  # a stale or damaged copy: fetch a fresh one
    except OSError as err:
        raise DataUnavailableError(
            f"the cached copy {path} is damaged or a different version, and it cannot be "
            f"replaced ({err.strerror}: the cache is read-only). Delete it by hand, or set "
            f"{ENV_VAR} to a folder you can write"
        ) from err
    return False


def _failure(source: str, err: Exception) -> str:
    if isinstance(err, ChecksumError):
        return f"{source}: wrong bytes (a login page, a truncated copy or another version)"
    return f"{source}: {type(err).__name__}: {err}"


def ensure_file(remote: RemoteFile, subdir: str, *, root=None, fetch: Fetch | None = None) -> Path:
    """Return the verified cached path of ``remote``: cache, then mirror, then internet.

    Raises:
        ChecksumError: every source answered, all with the wrong bytes.
        DataUnavailableError: no source gave the file (the message lists each one's failure),
            or the cache cannot be written.
    """
    path = cache_dir(root) / subdir / remote.name
    if _cached(path, remote):
        return path
    failures: list[tuple[str, Exception]] = []
    for source in [*mirror_sources(remote.name, subdir), *remote.urls]:
        try:
            data = read_source(source, fetch or urllib_fetch)
            verify(data, remote, source)
        except Exception as err:  # offline, HTTP error, not in the mirror, wrong bytes: next
            failures.append((source, err))
            continue
        atomic_write(path, data)
        return path
    raise _unavailable(remote, path, failures)


def _unavailable(remote: RemoteFile, path: Path, failures: list[tuple[str, Exception]]):
    """The error for a file no source could give, naming what went wrong at each."""
    tried = "; ".join(_failure(source, err) for source, err in failures)
    if all(isinstance(err, ChecksumError) for _, err in failures):
        return ChecksumError(
            f"every source of {remote.name} sent bytes that do not hash to the expected "
            f"{remote.sha256} ({tried}); nothing was kept. A network that shows a login page "
            "answers like this: log in, then try again, or download the file by hand"
        )
    return DataUnavailableError(
        f"could not get {remote.name} from any source ({tried}). You may be offline. Download "
        f"it by hand from {remote.urls[0]} into {path.parent}, set {MIRROR_VAR} to a classroom "
        f"mirror that holds it, or set {ENV_VAR} to a folder that already holds it."
    )
