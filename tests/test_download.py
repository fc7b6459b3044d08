"""Downloaders run offline on fixture files written byte-for-byte in the real formats."""

import dataclasses
import gzip
import hashlib
import io
import os
import struct
import tarfile
import wave

import numpy as np
import pytest

from xmlab.data import download as dl


def idx_bytes(array: np.ndarray, magic: int) -> bytes:
    """Uncompressed IDX: big-endian magic, dims, then uint8 values (as in the real files)."""
    return struct.pack(f">I{array.ndim}I", magic, *array.shape) + array.astype(np.uint8).tobytes()


def gz(data: bytes, level: int = 9) -> bytes:
    return gzip.compress(data, compresslevel=level, mtime=0)  # mtime=0: stable bytes and hash


def wav_bytes(samples: np.ndarray, rate: int = 8000, channels: int = 1) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.astype("<i2").tobytes())
    return buffer.getvalue()


@pytest.fixture
def mnist_fixture(monkeypatch):
    """Tiny MNIST-format files served by a fake fetch; the pinned hashes point at them."""
    rng = np.random.default_rng(0)
    served, counts = {}, {"calls": 0}
    for prefix, n in (("train", 7), ("t10k", 3)):
        images = rng.integers(0, 256, (n, 28, 28))
        labels = rng.integers(0, 10, n)
        for key, payload in (
            (f"{prefix}-images-idx3-ubyte", idx_bytes(images, 2051)),
            (f"{prefix}-labels-idx1-ubyte", idx_bytes(labels, 2049)),
        ):
            data = gz(payload)
            remote = dataclasses.replace(dl.MNIST[key], sha256=hashlib.sha256(data).hexdigest())
            monkeypatch.setitem(dl.MNIST, key, remote)
            served[remote.urls[0]] = data
        served[prefix] = (images, labels)

    def fetch(url):
        counts["calls"] += 1
        if url not in served:
            raise OSError(f"no route to {url}")
        return served[url]

    return served, fetch, counts


def test_pinned_hashes_are_sha256_hex():
    remotes = [*dl.MNIST.values(), *dl.FASHION_MNIST.values(), dl.FSDD]
    assert len(remotes) == 9
    for remote in remotes:
        assert len(remote.sha256) == 64 and int(remote.sha256, 16) >= 0


def test_mnist_parses_and_caches(tmp_path, mnist_fixture):
    served, fetch, counts = mnist_fixture
    out = dl.load_mnist("train", root=tmp_path, fetch=fetch)
    np.testing.assert_array_equal(out["images"], served["train"][0])
    np.testing.assert_array_equal(out["labels"], served["train"][1])
    assert out["images"].dtype == np.uint8 and out["labels"].dtype == np.int64
    calls = counts["calls"]
    dl.load_mnist("train", root=tmp_path, fetch=fetch)
    assert counts["calls"] == calls  # second load comes from the cache
    assert sorted(p.name for p in (tmp_path / "mnist").iterdir()) == [
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
    ]


def test_env_var_sets_cache_dir(tmp_path, monkeypatch, mnist_fixture):
    _, fetch, _ = mnist_fixture
    monkeypatch.setenv(dl.ENV_VAR, str(tmp_path / "elsewhere"))
    assert dl.cache_dir() == tmp_path / "elsewhere"
    assert len(dl.load_mnist("test", fetch=fetch)["labels"]) == 3
    assert (tmp_path / "elsewhere" / "mnist" / "t10k-labels-idx1-ubyte.gz").exists()


def test_second_mirror_used_when_first_fails(tmp_path, mnist_fixture):
    served, _, _ = mnist_fixture
    seen = []

    def fetch(url):
        seen.append(url)
        if url.startswith(dl.MNIST_MIRRORS[0]):
            raise OSError("mirror down")
        return served[url.replace(dl.MNIST_MIRRORS[1], dl.MNIST_MIRRORS[0])]

    assert len(dl.load_mnist("test", root=tmp_path, fetch=fetch)["images"]) == 3
    assert any(url.startswith(dl.MNIST_MIRRORS[1]) for url in seen)


def test_checksum_mismatch_keeps_nothing(tmp_path, mnist_fixture):
    served, _, _ = mnist_fixture

    def corrupting_fetch(url):  # every mirror sends the file with one byte changed
        data = bytearray(served[url.replace(dl.MNIST_MIRRORS[1], dl.MNIST_MIRRORS[0])])
        data[len(data) // 2] ^= 0xFF  # one corrupted byte
        return bytes(data)

    with pytest.raises(dl.ChecksumError, match="expected .* nothing was kept"):
        dl.load_mnist("test", root=tmp_path, fetch=corrupting_fetch)
    assert not any(p.is_file() for p in tmp_path.rglob("*"))  # no file, no .part


def test_corrupted_cached_file_is_replaced(tmp_path, mnist_fixture):
    served, fetch, _ = mnist_fixture
    path = tmp_path / "mnist" / "t10k-labels-idx1-ubyte.gz"
    path.parent.mkdir(parents=True)
    path.write_bytes(served[dl.MNIST["t10k-labels-idx1-ubyte"].urls[0]][:-5])  # truncated
    assert len(dl.load_mnist("test", root=tmp_path, fetch=fetch)["labels"]) == 3
    assert path.read_bytes() == served[dl.MNIST["t10k-labels-idx1-ubyte"].urls[0]]


def test_offline_error_says_how_to_get_the_data(tmp_path):
    def offline(url):
        raise OSError("Temporary failure in name resolution")

    with pytest.raises(dl.DataUnavailableError, match="offline.*by hand.*XMLAB_DATA"):
        dl.load_mnist("train", root=tmp_path, fetch=offline)
    assert not any(p.is_file() for p in tmp_path.rglob("*"))


def test_unwritable_cache_dir_is_explained(tmp_path, mnist_fixture):
    _, fetch, _ = mnist_fixture
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("a file where the cache folder should be")
    with pytest.raises(dl.DataUnavailableError, match="cannot write to the cache folder"):
        dl.load_mnist("test", root=blocker, fetch=fetch)


def test_atomic_write_leaves_no_partial_file(tmp_path, monkeypatch):
    def failing_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        dl.atomic_write(tmp_path / "file.bin", b"x" * 1000)
    assert list(tmp_path.iterdir()) == []


def test_parse_idx_errors():
    images = np.zeros((2, 28, 28), dtype=np.uint8)
    good = idx_bytes(images, 2051)
    np.testing.assert_array_equal(dl.parse_idx(gz(good)), images)
    with pytest.raises(ValueError, match="truncated or corrupted"):
        dl.parse_idx(good[:-10])
    with pytest.raises(ValueError, match="not a complete gzip"):
        dl.parse_idx(gz(good)[:-20])
    with pytest.raises(ValueError, match="not an IDX file"):
        dl.parse_idx(b"PK\x03\x04 a zip file")


def test_bad_split_is_refused(tmp_path):
    with pytest.raises(ValueError, match="'train' or 'test'"):
        dl.load_mnist("validation", root=tmp_path, fetch=lambda url: b"")


def test_fashion_mnist_from_debian_folder(tmp_path, monkeypatch):
    rng = np.random.default_rng(1)
    system = tmp_path / "usr-share-datasets-fashion-mnist"
    system.mkdir()
    images, labels = rng.integers(0, 256, (4, 28, 28)), np.array([9, 0, 0, 3])
    for key, payload in (
        ("t10k-images-idx3-ubyte", idx_bytes(images, 2051)),
        ("t10k-labels-idx1-ubyte", idx_bytes(labels, 2049)),
    ):
        digest = hashlib.sha256(payload).hexdigest()  # hash of the uncompressed file
        monkeypatch.setitem(
            dl.FASHION_MNIST, key, dataclasses.replace(dl.FASHION_MNIST[key], sha256=digest)
        )
        (system / f"{key}.gz").write_bytes(gz(payload, level=1))  # recompressed, like Debian's

    def offline(url):
        raise OSError("offline")

    out = dl.load_fashion_mnist("test", root=tmp_path / "cache", fetch=offline, system_dir=system)
    np.testing.assert_array_equal(out["images"], images)
    np.testing.assert_array_equal(out["labels"], labels)
    assert not (tmp_path / "cache").exists()  # nothing downloaded or copied
    (system / "t10k-labels-idx1-ubyte.gz").write_bytes(gz(idx_bytes(labels[::-1], 2049)))
    with pytest.raises(dl.ChecksumError):
        dl.load_fashion_mnist("test", root=tmp_path / "cache", fetch=offline, system_dir=system)


def fsdd_archive(speakers=("george", "theo"), digits=(3, 7), takes=8, bad=None) -> bytes:
    """A tar.gz laid out like the GitHub release: top folder, recordings/{d}_{spk}_{i}.wav."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for spk in speakers:
            for d in digits:
                for i in range(takes):
                    samples = np.full(100 + 10 * i, 1000 * d, dtype=np.int16)
                    data = wav_bytes(samples, rate=bad or 8000)
                    info = tarfile.TarInfo(
                        f"free-spoken-digit-dataset-1.0.10/recordings/{d}_{spk}_{i}.wav"
                    )
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))
        readme = tarfile.TarInfo("free-spoken-digit-dataset-1.0.10/README.md")
        readme.size = 5
        tar.addfile(readme, io.BytesIO(b"hello"))
    return buffer.getvalue()


@pytest.fixture
def fsdd_fetch(monkeypatch):
    archive = fsdd_archive()
    monkeypatch.setattr(
        dl, "FSDD", dataclasses.replace(dl.FSDD, sha256=hashlib.sha256(archive).hexdigest())
    )
    return lambda url: archive


def test_fsdd_official_split(tmp_path, fsdd_fetch):
    train = dl.load_fsdd("train", root=tmp_path, fetch=fsdd_fetch)
    test = dl.load_fsdd("test", root=tmp_path, fetch=fsdd_fetch)
    assert len(train) == 2 * 2 * 3 and len(test) == 2 * 2 * 5
    assert {c["take"] for c in test} == {0, 1, 2, 3, 4}
    assert {c["speaker"] for c in train} == {c["speaker"] for c in test}  # shared speakers
    clip = next(c for c in test if c["label"] == 7 and c["take"] == 2)
    assert clip["audio"].dtype == np.int16 and len(clip["audio"]) == 120
    assert np.all(clip["audio"] == 7000)


def test_fsdd_speaker_split_holds_speakers_out(tmp_path, fsdd_fetch):
    train = dl.load_fsdd(
        "train", by="speaker", test_speakers=("theo",), root=tmp_path, fetch=fsdd_fetch
    )
    test = dl.load_fsdd(
        "test", by="speaker", test_speakers=("theo",), root=tmp_path, fetch=fsdd_fetch
    )
    assert {c["speaker"] for c in train} == {"george"}
    assert {c["speaker"] for c in test} == {"theo"}
    assert len(train) + len(test) == 32


def test_fsdd_wrong_sample_rate_is_explained(tmp_path, monkeypatch):
    archive = fsdd_archive(bad=16000)
    monkeypatch.setattr(
        dl, "FSDD", dataclasses.replace(dl.FSDD, sha256=hashlib.sha256(archive).hexdigest())
    )
    with pytest.raises(ValueError, match="expected mono 16-bit 8000 Hz, got .* 16000 Hz"):
        dl.load_fsdd("train", root=tmp_path, fetch=lambda url: archive)


def test_read_wav_refuses_stereo_and_garbage():
    with pytest.raises(ValueError, match="2 channel"):
        dl.read_wav(wav_bytes(np.zeros(20), channels=2), "x.wav")
    with pytest.raises(ValueError, match="not a readable WAV"):
        dl.read_wav(b"RIFF....garbage", "y.wav")
