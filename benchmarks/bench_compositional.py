"""Does training with hard negatives fix the bag-of-words failure, for the same training time?

    python benchmarks/bench_compositional.py                  # 3 seeds, the lesson's recipe
    python benchmarks/bench_compositional.py --scale 2        # twice the training time

Notebook 06's recipe: its small dual encoder (a CNN image tower with stages of 16, 32 and 64
channels, a Transformer text tower, width 96) on 20,000 two-object Shapes scenes, batches of
128, Adam with warmup and cosine decay. The hard-negative
run trains ``--epochs`` epochs with one verified attribute-swap or relation-swap caption per image
(``xm.train.hard_negative_loss``); the plain run (CLIP's loss) starts from the same
weights and trains as many steps as fit in the same time. Its step count comes from the two
models' seconds per step, measured side by side (alternating, median) on this machine before
the runs, so a busy machine slows both alike; each run's own seconds are printed too.

Printed per method, mean ± standard deviation over the seeds: the accuracy on every kind of
verified hard negative of the 500 test scenes (0.5 is chance), image->text and text->image R@1
on the 500-way test retrieval, and image->text R@1 on 500 scenes of unseen colour-shape pairs.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

import xmlab as xm
from xmlab.data.grammar import NEGATIVE_KINDS

RETRIEVAL = ("image_to_text_R@1", "text_to_image_R@1", "heldout_image_to_text_R@1")


class Steps:
    """Exactly ``n`` batches of ``loader`` (reshuffled at each pass), as one epoch for ``fit``."""

    def __init__(self, loader, n: int):
        self.loader, self.n = loader, n

    def __len__(self) -> int:
        return self.n

    def __iter__(self):
        done = 0
        while True:
            for batch in self.loader:
                if done == self.n:
                    return
                done += 1
                yield batch


def seconds_per_step(make_model, plain, negative, repeats: int = 7) -> tuple[float, float]:
    """Median seconds of one optimiser step with CLIP's loss and with hard negatives,
    measured alternately on the same batches."""
    times = {"plain": [], "negative": []}
    batches = {"plain": next(iter(plain)), "negative": next(iter(negative))}
    losses = {"plain": xm.train.contrastive_loss, "negative": xm.train.hard_negative_loss}
    model = make_model()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for r in range(repeats + 1):
        for name in times:
            start = time.perf_counter()
            optimizer.zero_grad()
            losses[name](model, batches[name]).backward()
            optimizer.step()
            if r:  # the first round warms up
                times[name].append(time.perf_counter() - start)
    return statistics.median(times["plain"]), statistics.median(times["negative"])


def train(model, loader, loss_fn, *, epochs: int, lr: float) -> tuple[float, float]:
    """Train with ``fit``; returns (wall seconds, processor seconds)."""
    config = xm.train.TrainConfig(
        epochs=epochs, lr=lr, schedule="cosine", warmup_steps=30, device="cpu", progress=False
    )
    wall, cpu = time.perf_counter(), time.process_time()
    xm.train.fit(model, loader, config=config, loss_fn=loss_fn)
    return time.perf_counter() - wall, time.process_time() - cpu


def run_seed(seed: int, args) -> dict[str, dict[str, float]]:
    """Both methods for one seed: their scores and seconds."""
    xm.utils.seed_everything(seed)
    train_set = xm.data.make_shapes(args.n_train, split="train", seed=seed)
    test = xm.data.make_shapes(500, split="test", seed=seed)
    heldout = xm.data.make_shapes(500, split="heldout", seed=seed)
    tok = xm.preprocess.WordTokenizer.build(train_set.captions)
    common = dict(batch_size=args.batch_size, shuffle=True, seed=seed, drop_last=True)
    plain = xm.data.pair_loader(train_set, tok, **common)
    negative = xm.data.negative_pair_loader(train_set, tok, kinds=args.kinds, k=1, **common)

    def make_model():
        torch.manual_seed(seed)
        return xm.encoders.DualEncoder(
            xm.encoders.ImageEncoder(args.width, channels=tuple(args.image_channels)),
            xm.encoders.TextEncoder(len(tok), args.width),
            image_dim=args.width,
            text_dim=args.width,
            embed_dim=args.width,
        )

    t_plain, t_negative = seconds_per_step(make_model, plain, negative)
    epochs = round(args.epochs * args.scale)
    plain_steps = round(epochs * len(negative) * t_negative / t_plain)  # the same time
    runs = {
        "plain": (Steps(plain, plain_steps), xm.train.contrastive_loss),
        "hard negatives": (negative, xm.train.hard_negative_loss),
    }
    out = {}
    for name, (loader, loss_fn) in runs.items():
        model = make_model()
        wall, cpu = train(
            model, loader, loss_fn, epochs=1 if name == "plain" else epochs, lr=args.lr
        )
        scores = xm.metrics.compositional_scores(model, test, tok, test.hard_negatives(seed=seed))
        held = xm.metrics.compositional_scores(
            model, heldout, tok, heldout.hard_negatives(seed=seed)
        )
        steps = len(loader) * (1 if name == "plain" else epochs)
        out[name] = {**scores, "heldout_image_to_text_R@1": held["image_to_text_R@1"]}
        out[name].update(steps=steps, seconds=wall, cpu_seconds=cpu)
        print(
            f"seed {seed} {name:>14}: {steps} steps, {wall:.0f} s ({cpu:.0f} s CPU), "
            f"attribute_swap {scores['attribute_swap']:.3f}, "
            f"relation_swap {scores['relation_swap']:.3f}",
            flush=True,
        )
    return out


def summary(results: list[dict], name: str, key: str) -> str:
    """``mean ± standard deviation`` of one figure over the seeds."""
    values = [r[name][key] for r in results]
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    digits = 0 if key == "steps" else 1 if "seconds" in key else 3
    return f"{statistics.mean(values):.{digits}f} ± {spread:.{digits}f}"


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=9, help="epochs of hard-negative training")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply the training time")
    parser.add_argument("--n-train", type=int, default=20000)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--width", type=int, default=96)
    parser.add_argument("--image-channels", type=int, nargs="+", default=[16, 32, 64])
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--kinds", nargs="+", default=["attribute_swap", "relation_swap"])
    parser.add_argument("--threads", type=int, default=2, help="torch threads (2: the laptop)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    results = [run_seed(seed, args) for seed in args.seeds]
    names = list(results[0])
    print(f"\n{len(args.seeds)} seeds, mean ± std; hard negatives trained on: {args.kinds}")
    print(f"| {'metric':<27} | " + " | ".join(f"{n:>15}" for n in names) + " |")
    print(f"|{'-' * 29}|" + "|".join("-" * 17 for _ in names) + "|")
    for key in (*NEGATIVE_KINDS, "all", *RETRIEVAL, "steps", "seconds", "cpu_seconds"):
        cells = " | ".join(f"{summary(results, n, key):>15}" for n in names)
        print(f"| {key:<27} | {cells} |")


if __name__ == "__main__":
    main()
