"""Real datasets, downloaded when online: MNIST, Fashion-MNIST and the Free Spoken Digit Dataset.

Every file has a pinned SHA-256; a download is checked *before* it is written, and written
atomically (a temporary file in the same folder, then ``os.replace``), so the cache never holds a
partial or corrupted file. The cache folder is ``$XMLAB_DATA`` when set, else ``~/.cache/xmlab``.
The ``fetch`` argument (``url -> bytes``) is injectable: tests pass fixture bytes in the real
formats, and a classroom can serve files from a local mirror.

Explained in: notebooks/01_multimodal_data.ipynb
"""

from __future__ import annotations

import errno
import gzip
import hashlib
import io
import os
import re
import tarfile
import urllib.request
import wave
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from xmlab import utils

ENV_VAR = "XMLAB_DATA"
Fetch = Callable[[str], bytes]

MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
FASHION_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
DEBIAN_FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")  # apt install dataset-fashion-mnist
FSDD_URLS = (
    "https://github.com/Jakobovski/free-spoken-digit-dataset/archive/v1.0.10.tar.gz",
    "https://github.com/Jakobovski/free-spoken-digit-dataset/archive/refs/tags/v1.0.10.tar.gz",
)
FSDD_SPEAKERS = ("george", "jackson", "lucas", "nicolas", "theo", "yweweler")
FASHION_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)


@dataclass(frozen=True)
class RemoteFile:
    """One file to download: where from, and what its bytes must hash to."""

    name: str  # file name in the cache folder
    urls: tuple[str, ...]  # mirrors, tried in order
    sha256: str  # hex digest of the file, or of its gunzipped content when `gunzipped`
    gunzipped: bool = False  # hash the decompressed bytes (the archive may be recompressed)


def _idx_files(names_and_hashes: dict[str, str], mirrors: tuple[str, ...], gunzipped: bool):
    return {
        key: RemoteFile(f"{key}.gz", tuple(m + f"{key}.gz" for m in mirrors), digest, gunzipped)
        for key, digest in names_and_hashes.items()
    }


MNIST = _idx_files(
    {
        "train-images-idx3-ubyte": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",  # noqa: E501
        "train-labels-idx1-ubyte": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",  # noqa: E501
        "t10k-images-idx3-ubyte": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",  # noqa: E501
        "t10k-labels-idx1-ubyte": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",  # noqa: E501
    },
    MNIST_MIRRORS,
    gunzipped=False,
)
FASHION_MNIST = _idx_files(
    {  # hashes of the *uncompressed* files: Debian recompresses them
        "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",  # noqa: E501
        "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",  # noqa: E501
        "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",  # noqa: E501
        "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",  # noqa: E501
    },
    (FASHION_URL,),
    gunzipped=True,
)
FSDD = RemoteFile(
    "free-spoken-digit-dataset-1.0.10.tar.gz",
    FSDD_URLS,
    "feb479fad3a37883c3d21ed7f982281c2dd1c18d5aefd7e8a5d50f58023392aa",
)


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


def sha256_of(data: bytes, *, gunzipped: bool = False) -> str:
    """Hex SHA-256 of ``data`` (of its decompressed content when ``gunzipped``)."""
    if gunzipped:
        data = _gunzip(data, "download")
    return hashlib.sha256(data).hexdigest()


def verify(data: bytes, remote: RemoteFile, source: str) -> None:
    """Raise :class:`ChecksumError` unless ``data`` hashes to ``remote.sha256``."""
    digest = sha256_of(data, gunzipped=remote.gunzipped)
    if digest != remote.sha256:
        raise ChecksumError(
            f"{remote.name} from {source} has sha256 {digest}, expected {remote.sha256}: the "
            "file is corrupted, truncated or a different version; nothing was kept. Try again, "
            "or download it by hand from one of " + ", ".join(remote.urls)
        )


_UNWRITABLE = (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR, errno.EEXIST)


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file and ``os.replace``: all or nothing."""
    try:
        utils.atomic_write(path, data)
    except OSError as err:
        if err.errno not in _UNWRITABLE:
            raise  # e.g. a full disk: its message says so already
        raise DataUnavailableError(
            f"cannot write to the cache folder {path.parent} ({err.strerror}): set the "
            f"{ENV_VAR} environment variable to a folder you can write, or pass root=..."
        ) from err


def ensure_file(remote: RemoteFile, subdir: str, *, root=None, fetch: Fetch | None = None) -> Path:
    """Return the verified cached path of ``remote``, downloading it first if needed."""
    path = cache_dir(root) / subdir / remote.name
    if path.exists():
        try:
            verify(path.read_bytes(), remote, str(path))
            return path
        except (ChecksumError, ValueError):
            path.unlink()  # a stale or damaged copy: fetch a fresh one
    fetch = fetch or urllib_fetch
    errors = []
    for url in remote.urls:
        try:
            data = fetch(url)
        except Exception as err:  # offline, HTTP error, DNS failure: try the next mirror
            errors.append(f"{url}: {err}")
            continue
        verify(data, remote, url)
        atomic_write(path, data)
        return path
    raise DataUnavailableError(
        f"could not download {remote.name} ({'; '.join(errors)}). You may be offline. "
        f"Download it by hand from {remote.urls[0]} into {path.parent}, or set {ENV_VAR} "
        "to a folder that already holds it."
    )


def _gunzip(data: bytes, source: str) -> bytes:
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, gzip.BadGzipFile) as err:
        raise ValueError(
            f"{source} is not a complete gzip file ({err}): it is corrupted or truncated; "
            "delete it and download again"
        ) from err


IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def parse_idx(data: bytes, source: str = "IDX data") -> np.ndarray:
    """Parse IDX bytes (gzip'd or not): magic ``0 0 dtype ndim``, big-endian dims, then values."""
    if data[:2] == b"\x1f\x8b":
        data = _gunzip(data, source)
    if len(data) < 4 or data[:2] != b"\x00\x00" or data[2] not in IDX_DTYPES:
        raise ValueError(f"{source} is not an IDX file (first bytes {data[:4]!r})")
    ndim = data[3]
    dims = np.frombuffer(data, dtype=">u4", count=ndim, offset=4).astype(int)
    dtype = np.dtype(IDX_DTYPES[data[2]])
    expected = int(np.prod(dims)) * dtype.itemsize
    body = data[4 + 4 * ndim :]
    if len(body) != expected:
        raise ValueError(
            f"{source}: header says shape {tuple(dims)} ({expected} bytes) but {len(body)} "
            "bytes follow: the file is truncated or corrupted; delete it and download again"
        )
    return np.frombuffer(body, dtype=dtype).reshape(dims).astype(dtype.newbyteorder("="))


def _idx_prefix(split: str) -> str:
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    return "train" if split == "train" else "t10k"


def _load_idx_pair(split: str, paths: dict[str, Path]) -> dict[str, np.ndarray]:
    prefix = _idx_prefix(split)
    images = parse_idx(paths[f"{prefix}-images-idx3-ubyte"].read_bytes(), f"{prefix} images")
    labels = parse_idx(paths[f"{prefix}-labels-idx1-ubyte"].read_bytes(), f"{prefix} labels")
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise ValueError(
            f"{split} images {images.shape} and labels {labels.shape} do not pair up: "
            "expected (N, H, W) images and N labels"
        )
    return {"images": images, "labels": labels.astype(np.int64)}


def load_mnist(split: str = "train", *, root=None, fetch: Fetch | None = None) -> dict:
    """MNIST handwritten digits: ``{"images": (N, 28, 28) uint8, "labels": (N,) int64}``."""
    prefix = _idx_prefix(split)
    paths = {
        key: ensure_file(remote, "mnist", root=root, fetch=fetch)
        for key, remote in MNIST.items()
        if key.startswith(prefix)
    }
    return _load_idx_pair(split, paths)


def load_fashion_mnist(
    split: str = "train",
    *,
    root=None,
    fetch: Fetch | None = None,
    system_dir: Path | None = DEBIAN_FASHION_DIR,
) -> dict:
    """Fashion-MNIST (10 clothing classes, :data:`FASHION_CLASSES`), same layout as MNIST.

    Uses Debian's ``dataset-fashion-mnist`` files under ``system_dir`` when they are installed
    (checked against the same pinned hashes), and downloads into the cache otherwise.
    """
    prefix = _idx_prefix(split)
    paths = {}
    for key, remote in FASHION_MNIST.items():
        if not key.startswith(prefix):
            continue
        local = Path(system_dir) / remote.name if system_dir is not None else None
        if local is not None and local.exists():
            verify(local.read_bytes(), remote, str(local))
            paths[key] = local
        else:
            paths[key] = ensure_file(remote, "fashion-mnist", root=root, fetch=fetch)
    return _load_idx_pair(split, paths)


FSDD_NAME = re.compile(r"recordings/(\d)_([a-z]+)_(\d+)\.wav$")


def read_wav(data: bytes, source: str, *, sample_rate: int = 8000) -> np.ndarray:
    """Mono 16-bit PCM WAV bytes -> int16 samples; other formats get a clear error."""
    try:
        with wave.open(io.BytesIO(data)) as w:
            params, frames = w.getparams(), w.readframes(w.getnframes())
    except (wave.Error, EOFError) as err:
        raise ValueError(f"{source} is not a readable WAV file ({err})") from err
    if params.nchannels != 1 or params.sampwidth != 2 or params.framerate != sample_rate:
        raise ValueError(
            f"{source}: expected mono 16-bit {sample_rate} Hz, got {params.nchannels} channel(s),"
            f" {8 * params.sampwidth}-bit, {params.framerate} Hz; resample it with "
            "xm.preprocess.audio.resample"
        )
    return np.frombuffer(frames, dtype="<i2").astype(np.int16)


def parse_fsdd(archive: bytes) -> list[dict]:
    """Every recording in the FSDD release archive: ``{"audio", "label", "speaker", "take"}``."""
    clips = []
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        for member in tar:
            match = FSDD_NAME.search(member.name)
            if member.isfile() and match:
                data = tar.extractfile(member).read()
                clips.append(
                    dict(
                        audio=read_wav(data, member.name),
                        label=int(match[1]),
                        speaker=match[2],
                        take=int(match[3]),
                    )
                )
    if not clips:
        raise ValueError("the FSDD archive holds no recordings/{digit}_{speaker}_{take}.wav files")
    return sorted(clips, key=lambda c: (c["speaker"], c["label"], c["take"]))


def load_fsdd(
    split: str = "train",
    *,
    by: str = "official",
    test_speakers: tuple[str, ...] = ("theo",),
    root=None,
    fetch: Fetch | None = None,
) -> list[dict]:
    """Free Spoken Digit Dataset clips of one split (8 kHz int16, 6 speakers, 3,000 clips).

    Args:
        split: ``"train"`` or ``"test"``.
        by: ``"official"`` (takes 0-4 are test, speakers shared) or ``"speaker"``
            (``test_speakers`` are held out entirely: a harder, more honest test).
    """
    if split not in ("train", "test") or by not in ("official", "speaker"):
        raise ValueError(f"need split in train/test and by in official/speaker, got {split}, {by}")
    clips = parse_fsdd(ensure_file(FSDD, "fsdd", root=root, fetch=fetch).read_bytes())
    if by == "official":
        in_test = [c["take"] < 5 for c in clips]
    else:
        in_test = [c["speaker"] in test_speakers for c in clips]
    return [c for c, t in zip(clips, in_test, strict=True) if t == (split == "test")]


def download_all(*, root=None, fetch: Fetch | None = None) -> list[Path]:
    """Download (or verify) every file of MNIST, Fashion-MNIST and FSDD; return their paths."""
    jobs = (
        [(r, "mnist") for r in MNIST.values()]
        + [(r, "fashion-mnist") for r in FASHION_MNIST.values()]
        + [(FSDD, "fsdd")]
    )
    return [ensure_file(remote, sub, root=root, fetch=fetch) for remote, sub in jobs]
