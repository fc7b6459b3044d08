"""Build the spoken-digit audio that ships with xmlab (``xmlab/data/assets/spoken_digits.npz``).

Every clip is one English number word ("zero" ... "nine") spoken by the eSpeak NG synthesizer in
one *voice* (an accent combined with a voice variant) at a seeded random rate and pitch,
resampled to 8 kHz 16-bit mono with sox (repeatable, no dither), and trimmed of leading and
trailing silence. The voices, rates and pitches are listed below and drawn from a fixed seed, so
the build is reproducible: two runs write byte-identical files.

Requirements (Debian/Ubuntu)::

    apt-get update && apt-get install -y espeak-ng sox

Run from the repository root::

    python data/spoken_digits/build.py            # writes xmlab/data/assets/spoken_digits.npz
    python data/spoken_digits/build.py --out x.npz --jobs 4

Storage: the samples are companded to 8-bit mu-law (G.711 style, about 38 dB SNR against the
int16 original) and the ``.npz`` archive is written with LZMA compression, which ``numpy.load``
reads like any ``.npz``; :func:`xmlab.data.digits.load_audio_asset` decodes back to int16.
The kit itself only reads the ``.npz`` file: no synthesizer is needed to use the data.
"""

from __future__ import annotations

import argparse
import io
import shutil
import subprocess
import sys
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run from a plain checkout too
from xmlab.preprocess.audio import mu_law_encode  # noqa: E402

SEED = 2024
SAMPLE_RATE = 8000
WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
ACCENTS = (
    "en-us",
    "en-us-nyc",
    "en-gb",
    "en-gb-x-rp",
    "en-gb-scotland",
    "en-gb-x-gbclan",
    "en-gb-x-gbcwmd",
    "en-029",
)
VARIANTS = (
    *(f"m{i}" for i in range(1, 9)),
    *(f"f{i}" for i in range(1, 6)),
    "croak",
    "klatt",
    "klatt2",
    "klatt3",
    "grandma",
    "grandpa",
    "whisper",
)
RATE_RANGE = (110, 230)  # words per minute (espeak-ng -s)
PITCH_RANGE = (20, 80)  # 0-99 (espeak-ng -p)
TRIM_DB = 35.0  # frames quieter than the loudest frame by this much count as silence
TRIM_PAD_S = 0.02  # silence kept on each side of the word
DEFAULT_OUT = (
    Path(__file__).resolve().parents[2] / "xmlab" / "data" / "assets" / "spoken_digits.npz"
)


def check_tools() -> None:
    """Stop with instructions when espeak-ng or sox is missing."""
    missing = [tool for tool in ("espeak-ng", "sox") if shutil.which(tool) is None]
    if missing:
        raise SystemExit(
            f"missing program(s): {', '.join(missing)}. Install them with "
            "`apt-get update && apt-get install -y espeak-ng sox` and run this script again."
        )


def plan(seed: int = SEED) -> list[dict]:
    """List every clip to synthesise: voice, accent, variant, digit, rate and pitch (seeded)."""
    rng = np.random.default_rng(seed)
    clips = []
    for voice_id, (accent, variant) in enumerate((a, v) for a in ACCENTS for v in VARIANTS):
        for digit, word in enumerate(WORDS):
            rate = int(rng.integers(RATE_RANGE[0], RATE_RANGE[1] + 1))
            pitch = int(rng.integers(PITCH_RANGE[0], PITCH_RANGE[1] + 1))
            clips.append(
                dict(
                    voice=voice_id,
                    accent=accent,
                    variant=variant,
                    label=digit,
                    word=word,
                    rate=rate,
                    pitch=pitch,
                )
            )
    return clips


def synthesise(clip: dict) -> np.ndarray:
    """Speak one word and return it as 8 kHz int16 samples (untrimmed)."""
    speak = [
        "espeak-ng",
        "-v",
        f"{clip['accent']}+{clip['variant']}",
        "-s",
        str(clip["rate"]),
        "-p",
        str(clip["pitch"]),
        "--stdout",
        clip["word"],
    ]
    convert = [
        "sox",
        "-R",
        "-D",
        "-t",
        "wav",
        "-",
        "-r",
        str(SAMPLE_RATE),
        "-c",
        "1",
        "-b",
        "16",
        "-e",
        "signed-integer",
        "-t",
        "raw",
        "-",
    ]
    wav = subprocess.run(speak, check=True, capture_output=True).stdout
    raw = subprocess.run(convert, input=wav, check=True, capture_output=True).stdout
    return np.frombuffer(raw, dtype="<i2").astype(np.int16)


def trim_silence(wave: np.ndarray, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Cut leading and trailing frames quieter than the loudest 10 ms frame by ``TRIM_DB``."""
    frame = sample_rate // 100
    n_frames = max(len(wave) // frame, 1)
    frames = wave[: n_frames * frame].astype(np.float64).reshape(n_frames, -1)
    energy_db = 10 * np.log10((frames**2).mean(axis=1) + 1e-9)  # (n_frames,)
    active = np.flatnonzero(energy_db > energy_db.max() - TRIM_DB)
    pad = int(TRIM_PAD_S * sample_rate)
    start = max(active[0] * frame - pad, 0)
    stop = min((active[-1] + 1) * frame + pad, len(wave))
    return wave[start:stop]


def build(out: Path, jobs: int = 2, seed: int = SEED) -> dict:
    """Synthesise, trim and store every clip in one compressed ``.npz`` file."""
    check_tools()
    clips = plan(seed)
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        waves = [trim_silence(w) for w in pool.map(synthesise, clips)]
    lengths = np.array([len(w) for w in waves])
    arrays = dict(
        audio_mulaw=mu_law_encode(np.concatenate(waves)),
        offsets=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
        label=np.array([c["label"] for c in clips], dtype=np.int64),
        voice=np.array([c["voice"] for c in clips], dtype=np.int64),
        rate=np.array([c["rate"] for c in clips], dtype=np.int64),
        pitch=np.array([c["pitch"] for c in clips], dtype=np.int64),
        voice_names=np.array([f"{a}+{v}" for a in ACCENTS for v in VARIANTS]),
        sample_rate=np.array(SAMPLE_RATE),
        seed=np.array(seed),
    )
    write_npz_lzma(out, arrays)
    return {
        "clips": len(clips),
        "voices": len(ACCENTS) * len(VARIANTS),
        "seconds": float(lengths.sum() / SAMPLE_RATE),
        "bytes": out.stat().st_size,
    }


def write_npz_lzma(out: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write arrays as an ``.npz`` (a zip of ``.npy`` files) with LZMA compression, atomically."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_LZMA) as archive:
        for name, array in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.asanyarray(array), allow_pickle=False)
            archive.writestr(
                zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0)),
                buffer.getvalue(),
                compress_type=zipfile.ZIP_LZMA,
            )
    tmp.replace(out)  # atomic: never leave a half-written asset behind


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where to write the .npz")
    parser.add_argument("--jobs", type=int, default=2, help="parallel synthesizer processes")
    parser.add_argument("--seed", type=int, default=SEED, help="seed for rates and pitches")
    args = parser.parse_args()
    stats = build(args.out, jobs=args.jobs, seed=args.seed)
    print(
        f"wrote {args.out}: {stats['clips']} clips, {stats['voices']} voices, "
        f"{stats['seconds']:.0f} s of audio, {stats['bytes'] / 1e6:.2f} MB"
    )


if __name__ == "__main__":
    main()
