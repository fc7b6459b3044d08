"""Bad inputs to step 1, preprocessing: data sets, loaders, downloads, text, audio, images.

Each case says what must be raised and what its message must say (see ``bad_inputs.py``).
"""

import dataclasses
import tempfile
from pathlib import Path

import numpy as np
import torch
from bad_inputs import case, check, table

import xmlab as xm
from xmlab.data import download as dl
from xmlab.preprocess import audio

TOK = xm.preprocess.WordTokenizer.build(["a red circle", "a blue square"])
WAVE = torch.randn(8000)
IMAGES = torch.rand(2, 3, 8, 8)
INF = float("inf")
MNIST_LABELS = dl.MNIST["train-labels-idx1-ubyte"]


def offline(url):
    raise OSError(f"no route to {url}")


def wav(channels=1, rate=8000):
    import io
    import wave

    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.zeros(80 * channels, "<i2").tobytes())
    return buffer.getvalue()


def cache_under_a_file():
    blocker = Path(tempfile.mkdtemp()) / "file"
    blocker.write_text("not a folder")
    remote = dataclasses.replace(MNIST_LABELS, sha256=dl.sha256_of(b"data"))
    dl.ensure_file(remote, "mnist", root=blocker, fetch=lambda url: b"data")


CASES = [
    # --- data sets -------------------------------------------------------------------------
    case("data/shapes-seed-string", lambda: xm.data.make_shapes(4, seed="a"),
         ValueError, r"non-negative integer", r"'a'", r"seed=0"),
    case("data/shapes-seed-float", lambda: xm.data.make_shapes(4, seed=1.5),
         ValueError, r"non-negative integer", r"1\.5", r"seed=0"),
    case("data/shapes-seed-negative", lambda: xm.data.make_shapes(4, seed=-3),
         ValueError, r"non-negative integer", r"-3", r"seed=0"),
    case("data/shapes-no-scenes", lambda: xm.data.make_shapes(0),
         ValueError, r"at least 1", r"got 0", r"at least 1 scene"),
    case("data/shapes-fractional-count", lambda: xm.data.make_shapes(4.5),
         ValueError, r"must be an integer", r"4\.5", r"e\.g\. n=2000"),
    case("data/shapes-tiny-images", lambda: xm.data.make_shapes(4, image_size=8),
         ValueError, r"at least 16", r"got 8", r"need at least 16 pixels"),
    case("data/shapes-negative-noise", lambda: xm.data.make_shapes(4, noise=-0.1),
         ValueError, r"at least 0", r"-0\.1", r"such as 0\.02"),
    case("data/shapes-unknown-split", lambda: xm.data.make_shapes(4, split="dev"),
         ValueError, r"expected one of train, val, test, heldout", r"'dev'", r"split='train'"),
    case("data/digits-unknown-split", lambda: xm.data.SpokenDigits("dev"),
         ValueError, r"expected one of train, val, test", r"'dev'", r"split='train'"),
    case("data/seed-everything-bool", lambda: xm.utils.seed_everything(True),
         ValueError, r"non-negative integer", r"True", r"seed=0"),
    case("data/seed-everything-string", lambda: xm.utils.seed_everything("0"),
         ValueError, r"non-negative integer", r"'0'", r"seed=0"),
    case("data/loader-no-tensors", lambda: xm.data.TensorLoader({}),
         ValueError, r"non-empty dict of tensors", r"got \{\}", r"e\.g\. \{\"image\""),
    case("data/loader-list-value", lambda: xm.data.TensorLoader({"x": [1, 2]}),
         TypeError, r"must be a tensor", r"'x': 'list'", r"torch\.as_tensor"),
    case("data/loader-unequal-sizes",
         lambda: xm.data.TensorLoader({"a": torch.zeros(3), "b": torch.zeros(4)}),
         ValueError, r"same number of items", r"'a': 3, 'b': 4", r"row i of every tensor"),
    case("data/loader-batch-size-zero", lambda: xm.data.TensorLoader({"a": WAVE}, batch_size=0),
         ValueError, r"at least 1", r"got 0", r"e\.g\. 128"),
    case("data/loader-batch-size-string",
         lambda: xm.data.TensorLoader({"a": WAVE}, batch_size="32"),
         TypeError, r"must be an integer", r"'32' \(str\)", r"e\.g\. 128"),
    case("data/loader-seed-string", lambda: xm.data.TensorLoader({"a": WAVE}, seed="x"),
         ValueError, r"non-negative integer", r"'x'", r"seed=0"),
    case("data/collate-nothing", lambda: xm.data.collate([]),
         ValueError, r"at least one dict", r"empty list", r"not empty"),
    case("data/collate-ragged", lambda: xm.data.collate([{"a": torch.zeros(2, 3)},
                                                         {"a": torch.zeros(3, 3)}]),
         ValueError, r"only the last axis may differ", r"\(2, 3\), \(3, 3\)", r"one shape"),
    case("data/collate-missing-key", lambda: xm.data.collate([{"a": 1}], keys=("b",)),
         KeyError, r"they hold \['a'\]", r"no \['b'\]", r"keys they hold"),
    case("data/modality-loader-batch-size",
         lambda: xm.data.modality_loader([{"image": IMAGES[0]}], ("image",), batch_size=0),
         ValueError, r"at least 1", r"got 0", r"e\.g\. 64"),
    # --- downloads (the cases of xmlab/data/download.py) -------------------------------------
    case("download/checksum-mismatch", lambda: dl.verify(b"junk", MNIST_LABELS, "a mirror"),
         dl.ChecksumError, r"expected [0-9a-f]{64}", r"has sha256 [0-9a-f]{64}",
         r"download it by hand"),
    case("download/offline",
         lambda: dl.ensure_file(MNIST_LABELS, "mnist", root=tempfile.mkdtemp(), fetch=offline),
         dl.DataUnavailableError, r"could not get .* from any source", r"no route to",
         r"by hand.*XMLAB_DATA"),
    case("download/cache-not-writable", cache_under_a_file,
         dl.DataUnavailableError, r"cannot write to the cache folder", r"file",
         r"XMLAB_DATA.*root="),
    case("download/not-idx", lambda: dl.parse_idx(b"hello world"),
         ValueError, r"not an IDX file", r"first bytes b'hell'", r"download again"),
    case("download/idx-truncated",
         lambda: dl.parse_idx(b"\x00\x00\x08\x01\x00\x00\x00\x05ab", "labels"),
         ValueError, r"header says shape \(5,\)", r"2 bytes follow", r"download again"),
    case("download/not-gzip", lambda: dl.parse_idx(b"\x1f\x8b junk", "images"),
         ValueError, r"not a complete gzip file", r"images", r"download again"),
    case("download/mnist-split", lambda: dl.load_mnist("val", fetch=offline),
         ValueError, r"'train' or 'test'", r"'val'", r"pass one of them"),
    case("download/wav-garbage", lambda: dl.read_wav(b"junk", "clip.wav"),
         ValueError, r"not a readable WAV", r"clip\.wav", r"convert to 16-bit"),
    case("download/wav-stereo", lambda: dl.read_wav(wav(channels=2), "clip.wav"),
         ValueError, r"expected mono 16-bit 8000 Hz", r"2 channel", r"resample"),
    case("download/wav-rate", lambda: dl.read_wav(wav(rate=16000), "clip.wav"),
         ValueError, r"expected mono 16-bit 8000 Hz", r"16000 Hz", r"resample"),
    case("download/fsdd-split", lambda: dl.load_fsdd("dev", fetch=offline),
         ValueError, r"split in train/test", r"'dev'", r"split='test'"),
    # --- text ------------------------------------------------------------------------------
    case("text/build-from-one-string", lambda: xm.preprocess.WordTokenizer.build("a red circle"),
         TypeError, r"list of texts", r"got str 'a red circle'", r"\[text\]"),
    case("text/build-from-numbers", lambda: xm.preprocess.WordTokenizer.build([1, 2]),
         TypeError, r"texts \(str\)", r"got 1 \(int\)", r"convert every item"),
    case("text/build-from-empty-texts", lambda: xm.preprocess.WordTokenizer.build(["", " "]),
         ValueError, r"at least one word", r"got 2 texts", r"non-empty texts"),
    case("text/char-build-from-one-string", lambda: xm.preprocess.CharTokenizer.build("abc"),
         TypeError, r"list of texts", r"got str 'abc'", r"\[text\]"),
    case("text/vocabulary-without-specials", lambda: xm.preprocess.WordTokenizer(["a", "b"]),
         ValueError, r"start with the special tokens", r"got \['a', 'b'\]", r"\.build\(corpus\)"),
    case("text/tokenize-a-number", lambda: TOK(123),
         TypeError, r"list of texts", r"int 123", r"\[text\]"),
    case("text/tokenize-none", lambda: TOK(None),
         TypeError, r"list of texts", r"NoneType", r"\[text\]"),
    case("text/tokenize-nothing", lambda: TOK([]),
         ValueError, r"at least one text", r"empty list", r"pass"),
    case("text/empty-caption", lambda: TOK(["a red circle", ""]),
         ValueError, r"non-empty caption", r"caption '' has no words", r"every item needs"),
    case("text/unknown-words", lambda: TOK(["zebra giraffe"]),
         ValueError, r"in the vocabulary of \d+ tokens", r"'zebra giraffe'",
         r"build the tokenizer on a corpus"),
    case("text/too-long", lambda: TOK(["a " * 40]),
         ValueError, r"max_length is 32", r"caption has 42 tokens", r"truncate=True"),
    case("text/char-blank", lambda: xm.preprocess.CharTokenizer.build(["ab"])(["  "]),
         ValueError, r"non-empty text", r"'  ' is empty", r"every item needs"),
    # --- audio -----------------------------------------------------------------------------
    case("audio/shorter-than-the-window", lambda: audio.log_mel(torch.randn(100)),
         ValueError, r"at least 129 are needed", r"has 100 samples", r"pad the clip"),
    case("audio/nan-samples", lambda: audio.log_mel(torch.full((800,), float("nan"))),
         ValueError, r"finite numbers", r"nan at index 0", r"nan_to_num"),
    case("audio/infinite-samples",
         lambda: audio.spectrogram(torch.tensor([0.0] * 300 + [float("inf")])),
         ValueError, r"finite numbers", r"inf at index 300", r"nan_to_num"),
    case("audio/three-axes", lambda: audio.log_mel(torch.randn(2, 2, 800)),
         ValueError, r"\(T,\) or \(B, T\)", r"\(2, 2, 800\)", r"one clip, or a batch"),
    case("audio/int32-samples", lambda: audio.log_mel(torch.zeros(800, dtype=torch.int32)),
         TypeError, r"float or int16", r"torch\.int32", r"divide by 2\*\*31"),
    case("audio/channels-last", lambda: audio.log_mel(torch.zeros(8000, 2)),
         ValueError, r"expected \(T,\) or \(B, T\)", r"8000 samples of 2 channels",
         r"wave\.mean\(-1\)"),
    case("audio/unknown-setting", lambda: audio.log_mel(WAVE, nmels=40),
         TypeError, r"fields of MelConfig", r"\['nmels'\]", r"n_mels"),
    case("audio/no-mel-bands", lambda: audio.log_mel(WAVE, n_mels=0),
         ValueError, r"at least 1", r"got 0", r"n_mels=40"),
    case("audio/zero-hop", lambda: audio.log_mel(WAVE, hop_length=0),
         ValueError, r"hop_length must be an integer at least 1", r"got 0", r"hop_length=80"),
    case("audio/zero-sample-rate", lambda: audio.resample(WAVE, 0, 8000),
         ValueError, r"orig_sr must be an integer at least 1", r"got 0", r"in Hz"),
    case("audio/wrong-rate", lambda: audio.prepare_audio(WAVE, 16000, allow_resample=False),
         ValueError, r"8000 Hz is expected", r"sampled at 16000 Hz", r"resample"),
    case("audio/filter-above-nyquist",
         lambda: audio.mel_filterbank(n_fft=256, n_mels=40, sample_rate=8000, f_max=5000),
         ValueError, r"f_max <= sample_rate / 2 = 4000", r"f_max=5000", r"lower f_max"),
    # --- images ----------------------------------------------------------------------------
    case("images/nan-pixels", lambda: xm.preprocess.normalize_images(IMAGES * float("nan")),
         ValueError, r"finite numbers", r"nan at index", r"nan_to_num"),
    case("images/infinite-pixels",
         lambda: xm.preprocess.normalize_images(IMAGES.index_fill(3, torch.tensor([1]), INF)),
         ValueError, r"finite numbers", r"inf at index \(0, 0, 0, 1\)", r"nan_to_num"),
    case("images/zero-std",
         lambda: xm.preprocess.normalize_images(IMAGES, std=(0.0, 0.25, 0.25)),
         ValueError, r"above 0", r"got 0\.0", r"standard deviation"),
    case("images/mean-std-lengths",
         lambda: xm.preprocess.normalize_images(IMAGES, mean=(0.2,) * 3, std=(0.2,) * 2),
         ValueError, r"one of each per channel", r"3 channel means but 2", r"std=\(0\.25"),
    case("images/0-255-floats", lambda: xm.preprocess.normalize_images(IMAGES * 255),
         ValueError, r"values in \[0, 1\]", r"to 2\d\d", r"divide 0\.\.255 floats by 255"),
    case("images/normalised-twice",
         lambda: xm.preprocess.normalize_images(xm.preprocess.normalize_images(IMAGES)),
         ValueError, r"values in \[0, 1\]", r"from -0\.\d+ to", r"normalise only once"),
    case("images/int32-pixels",
         lambda: xm.preprocess.normalize_images(torch.zeros(1, 3, 4, 4, dtype=torch.int32)),
         TypeError, r"uint8 or float", r"torch\.int32", r"uint8 pixels 0\.\.255"),
    case("images/numpy", lambda: xm.preprocess.normalize_images(np.zeros((1, 3, 4, 4))),
         TypeError, r"torch\.Tensor \(B, C, H, W\)", r"ndarray", r"torch\.as_tensor"),
    case("images/one-image", lambda: xm.preprocess.normalize_images(IMAGES[0]),
         ValueError, r"\(B, C, H, W\)", r"\(3, 8, 8\)", r"images\[None\]"),
    case("images/channels-last", lambda: xm.preprocess.normalize_images(torch.rand(2, 8, 8, 3)),
         ValueError, r"3 channels", r"\(2, 8, 8, 3\)", r"permute\(0, 3, 1, 2\)"),
    case("images/transform-nan", lambda: xm.preprocess.ImageTransform()(IMAGES * float("nan")),
         ValueError, r"finite numbers", r"nan at index", r"nan_to_num"),
]  # fmt: skip


@table(CASES)
def test_bad_input_gets_a_clear_error(bad):
    check(bad)


def test_float64_waveforms_are_read_in_their_own_precision():
    """Documented behaviour: a float64 waveform (NumPy's default) gives a float64 spectrogram
    equal to the float32 one, instead of failing inside a matmul."""
    wave = np.random.default_rng(0).standard_normal(8000)
    mel64 = audio.log_mel(wave)
    assert mel64.dtype == torch.float64
    torch.testing.assert_close(mel64.float(), audio.log_mel(torch.as_tensor(wave).float()),
                               rtol=1e-3, atol=1e-3)  # fmt: skip
