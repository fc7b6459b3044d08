"""Real speech: every leave-one-speaker-out fold, synthetic -> real, and the few-shot curve.

    python benchmarks/bench_real_speech.py                  # lesson 08's recipes, seed 0
    python benchmarks/bench_real_speech.py --seeds 0 1 2    # mean and spread over seeds
    python benchmarks/bench_real_speech.py --ablation       # each augmentation alone, on theo

Needs the Free Spoken Digit Dataset (the cache, ``XMLAB_MIRROR`` or online). The recipes are
those of ``notebooks/08_real_data.ipynb`` at its defaults; each table puts lesson 07's recipe
(the clip padded to 1 s, ``log_mel`` with ``xm.fusion.DIGIT_MEL``) beside them, trained the same
way on the same clips. It prints markdown tables:

1. leave-one-speaker-out: train on five speakers, test on the sixth, for each of the six;
   mean and worst;
2. synthetic -> real: trained on the kit's synthetic voices only, tested on all 3,000 real
   clips; then with test-time batch-norm adaptation per speaker (audio only, no labels);
3. the few-shot curve: the synthetic model fine-tuned on k real takes per digit of the five
   training speakers, against the same clips alone, tested on theo;
4. with ``--ablation``: each augmentation alone, and all of them, on theo.

Times are the process CPU seconds of each training (the machine may be shared).
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch

import xmlab as xm
from xmlab.preprocess.speech import WordConfig
from xmlab.speech import Augment

REAL = WordConfig()  # section 1's front end
REAL_AUGMENT = Augment(speed=(0.9, 1.1))
SYNTHETIC = WordConfig(n_fft=128, floor_db=35.0)  # section 2's matched front end
RANDOMISE = Augment(
    snr_db=(10.0, 40.0), gain_db=10.0, eq_db=10.0, time_masks=(2, 4), freq_masks=(2, 3)
)
ABLATION = {
    "none": None,
    "time shift ±0.1 s": Augment(shift=800),
    "noise 10-40 dB": Augment(snr_db=(10.0, 40.0)),
    "loudness contour ±10 dB": Augment(gain_db=10.0),
    "microphone colour ±10 dB": Augment(eq_db=10.0),
    "masks 2x4 frames, 2x3 bands": Augment(time_masks=(2, 4), freq_masks=(2, 3)),
    "speed + noise": Augment(speed=(0.9, 1.1), snr_db=(10.0, 40.0)),
    "speed 0.9-1.1 (the lesson's)": REAL_AUGMENT,
}


def trained(words, config, augment, *, epochs, seed, lr=3e-3, start=None, batch_size=64):
    """A recogniser trained on ``words`` (a copy of ``start`` if given), and its CPU seconds."""
    model = copy.deepcopy(start) if start is not None else xm.speech.word_classifier(seed=seed)
    loader = xm.speech.WordLoader(
        words, config=config, augment=augment, batch_size=batch_size, seed=seed
    )
    cpu = time.process_time()
    xm.speech.train_words(model, loader, epochs=epochs, lr=lr, device="cpu")
    return model, time.process_time() - cpu


def padded_log_mel(words, seconds: float = 1.0) -> dict:
    """Lesson 07's front end: the clip cut or zero-padded to ``seconds``, then ``log_mel``."""
    waves = torch.zeros(len(words), int(8000 * seconds))
    n = min(words.waves.shape[1], waves.shape[1])
    waves[:, :n] = words.waves[:, :n]
    return {"audio": xm.preprocess.log_mel(waves, xm.fusion.DIGIT_MEL), "label": words.labels}


def baseline(train_raw, test_raw, *, epochs: int, seed: int) -> tuple[float, float]:
    """Lesson 07's recipe: accuracy and CPU seconds."""
    model = xm.speech.word_classifier(n_mels=xm.fusion.DIGIT_MEL.n_mels, seed=seed)
    cpu = time.process_time()
    xm.fusion.train_classifier(model, padded_log_mel(train_raw), epochs=epochs, seed=seed,
                               device="cpu")  # fmt: skip
    return xm.fusion.accuracy(model, padded_log_mel(test_raw)), time.process_time() - cpu


def loso(real, raw, *, epochs: int, seed: int) -> list[dict]:
    """One row per held-out speaker: lesson 07's recipe and lesson 08's, side by side."""
    rows = []
    for speaker in xm.data.download.FSDD_SPEAKERS:
        base, base_s = baseline(raw.by_speaker(speaker, exclude=True), raw.by_speaker(speaker),
                                epochs=epochs, seed=seed)  # fmt: skip
        train = real.by_speaker(speaker, exclude=True)
        model, cpu = trained(train, REAL, REAL_AUGMENT, epochs=epochs, seed=seed)
        acc = xm.speech.word_accuracy(model, real.by_speaker(speaker), REAL)
        rows.append({"speaker": speaker, "lesson 07": base, "lesson 08": acc,
                     "cpu 07": base_s, "cpu 08": cpu})  # fmt: skip
        print(f"  {speaker}: {base:.3f} -> {acc:.3f}", flush=True)
    return rows


def adapted_accuracy(model, real, config) -> float:
    """Accuracy after re-estimating batch-norm statistics on each speaker's audio alone."""
    specs = real.features(config)
    predictions = torch.empty(len(real), dtype=torch.long)
    for speaker in sorted(set(real.speakers)):
        mine = torch.tensor([s == speaker for s in real.speakers])
        adapted = xm.speech.adapt_batchnorm(model, specs[mine])
        predictions[mine] = xm.fusion.predict(adapted, {"audio": specs[mine]})
    return xm.metrics.accuracy(predictions, real.labels)


def synthetic_to_real(real, synthetic, *, epochs: int, seed: int) -> tuple[dict, object]:
    """Synthetic-only training tested on every real clip, with and without adaptation."""
    plain, plain_s = trained(synthetic, REAL, None, epochs=12, seed=seed)
    matched, matched_s = trained(synthetic, SYNTHETIC, None, epochs=12, seed=seed)
    model, cpu = trained(synthetic, SYNTHETIC, RANDOMISE, epochs=epochs, seed=seed)
    row = {
        "section 1's front end (12 epochs)": xm.speech.word_accuracy(plain, real, REAL),
        "matched front end (12 epochs)": xm.speech.word_accuracy(matched, real, SYNTHETIC),
        f"matched front end + randomisation ({epochs} epochs)": xm.speech.word_accuracy(
            model, real, SYNTHETIC
        ),
        "... + batch-norm adaptation per speaker": adapted_accuracy(model, real, SYNTHETIC),
        "cpu": plain_s + matched_s + cpu,
    }
    return row, model


def few_shot(real, model, shots, *, epochs: int, seed: int, speaker: str = "theo") -> list[dict]:
    """Fine-tuning the synthetic model on k takes per digit, against those clips alone."""
    train, test = real.by_speaker(speaker, exclude=True), real.by_speaker(speaker)
    fresh = xm.speech.word_classifier(seed=seed)
    rows = []
    for k in shots:
        few = xm.speech.takes_per_digit(train, k)
        row = {"takes": k, "clips": len(few)}
        for name, start in [("synthetic + few real", model), ("few real alone", fresh)]:
            tuned, _ = trained(few, SYNTHETIC, None, epochs=epochs, seed=seed, lr=1e-3,
                               start=start, batch_size=32)  # fmt: skip
            row[name] = xm.speech.word_accuracy(tuned, test, SYNTHETIC)
        rows.append(row)
    return rows


def ablation(real, *, epochs: int, seed: int, speaker: str = "theo") -> list[dict]:
    """Each augmentation alone on the held-out speaker."""
    train, test = real.by_speaker(speaker, exclude=True), real.by_speaker(speaker)
    rows = []
    for name, policy in ABLATION.items():
        model, cpu = trained(train, REAL, policy, epochs=epochs, seed=seed)
        rows.append({"augmentation": name, "accuracy": xm.speech.word_accuracy(model, test, REAL),
                     "cpu": cpu})  # fmt: skip
        print(f"  {name}: {rows[-1]['accuracy']:.3f}", flush=True)
    return rows


def spread(values: list[float]) -> str:
    """``mean`` or ``mean ± stdev (min-max)`` of a list of accuracies."""
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return (f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f} "
            f"({min(values):.3f}-{max(values):.3f})")  # fmt: skip


def loso_table(results: dict[int, dict], seeds: list[int]) -> None:
    """Each held-out speaker, then the mean and the worst fold, both recipes side by side."""
    print("\n### Leave one speaker out (train on five, test on the sixth)\n")
    print("| held-out speaker | lesson 07's recipe | lesson 08's recipe |\n|---|---|---|")
    keys = ("lesson 07", "lesson 08")
    for i, row in enumerate(results[seeds[0]]["loso"]):
        cells = [spread([results[s]["loso"][i][key] for s in seeds]) for key in keys]
        print(f"| {row['speaker']} | {cells[0]} | {cells[1]} |")
    for name, pick in [("mean", statistics.mean), ("worst", min)]:
        cells = [
            spread([pick([r[key] for r in results[s]["loso"]]) for s in seeds]) for key in keys
        ]
        print(f"| **{name}** | {cells[0]} | {cells[1]} |")
    cpu = {key: [r[f"cpu {key[-2:]}"] for s in seeds for r in results[s]["loso"]] for key in keys}
    print("\nCPU seconds per training (median): " + ", ".join(
        f"{key} {statistics.median(v):.1f}" for key, v in cpu.items()))  # fmt: skip


def synthetic_table(results: dict[int, dict], seeds: list[int]) -> None:
    """Synthetic-only training on every real clip, step by step."""
    print("\n### Synthetic voices only -> all 3,000 real clips\n")
    print("| recipe | accuracy |\n|---|---|")
    for key in results[seeds[0]]["synthetic"]:
        if key != "cpu":
            print(f"| {key} | {spread([results[s]['synthetic'][key] for s in seeds])} |")


def few_shot_table(results: dict[int, dict], seeds: list[int]) -> None:
    """The few-shot curve: the synthetic start against the few real clips alone."""
    print("\n### Few-shot curve: real takes per digit of the five training speakers -> theo\n")
    print("| takes per digit | real clips | synthetic + few real | few real alone |")
    print("|---|---|---|---|")
    for i, row in enumerate(results[seeds[0]]["few_shot"]):
        cells = [spread([results[s]["few_shot"][i][key] for s in seeds])
                 for key in ("synthetic + few real", "few real alone")]  # fmt: skip
        print(f"| {row['takes']} | {row['clips']} | {cells[0]} | {cells[1]} |")


def ablation_table(results: dict[int, dict], seeds: list[int]) -> None:
    """Each augmentation alone on theo."""
    print("\n### Each augmentation alone, theo held out\n")
    print(f"| augmentation | accuracy | CPU s (seed {seeds[0]}) |\n|---|---|---|")
    for i, row in enumerate(results[seeds[0]]["ablation"]):
        acc = spread([results[s]["ablation"][i]["accuracy"] for s in seeds])
        print(f"| {row['augmentation']} | {acc} | {row['cpu']:.1f} |")


def print_tables(results: dict[int, dict], seeds: list[int]) -> None:
    """The markdown tables of whatever was measured, every seed merged."""
    first = results[seeds[0]]
    if first.get("loso"):
        loso_table(results, seeds)
    if "synthetic" in first:
        synthetic_table(results, seeds)
        few_shot_table(results, seeds)
    if "ablation" in first:
        ablation_table(results, seeds)


def sections_1_2(out: dict, real, raw, synthetic, args, seed: int) -> None:
    """Leave-one-speaker-out (unless skipped), synthetic -> real and the few-shot curve."""
    out["loso"] = [] if args.skip_loso else loso(real, raw, epochs=args.epochs, seed=seed)
    out["synthetic"], model = synthetic_to_real(real, synthetic, epochs=args.synthetic_epochs,
                                                seed=seed)  # fmt: skip
    print(f"  synthetic -> real: {out['synthetic']}", flush=True)
    out["few_shot"] = few_shot(real, model, args.shots, epochs=args.finetune_epochs, seed=seed)


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--epochs", type=int, default=12, help="epochs on real speech")
    parser.add_argument("--synthetic-epochs", type=int, default=16)
    parser.add_argument("--finetune-epochs", type=int, default=10)
    parser.add_argument("--shots", type=int, nargs="+", default=[1, 5, 20])
    parser.add_argument("--threads", type=int, default=2, help="torch threads (2: the laptop)")
    parser.add_argument("--ablation", action="store_true", help="each augmentation alone")
    parser.add_argument("--skip-loso", action="store_true", help="no leave-one-speaker-out")
    parser.add_argument("--ablation-only", action="store_true", help="only the ablation table")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    real, raw = xm.speech.fsdd_words(), xm.speech.fsdd_words(top_db=None)
    synthetic = xm.speech.synthetic_words()
    results = {}
    for seed in args.seeds:
        print(f"seed {seed}", flush=True)
        out = results[seed] = {}
        if not args.ablation_only:
            sections_1_2(out, real, raw, synthetic, args, seed)
        if args.ablation or args.ablation_only:
            out["ablation"] = ablation(real, epochs=args.epochs, seed=seed)
    print_tables(results, args.seeds)


if __name__ == "__main__":
    main()
