"""What does ``xm.train.fit`` cost over a bare PyTorch loop? Prints the medians and their ratio.

    python benchmarks/bench_fit.py                  # 40 steps, 7 runs of each, alternating
    python benchmarks/bench_fit.py --steps 100 --runs 9 --progress

Both train the same small dual encoder (Shapes, 32 px, batch 64) from the same initial weights
on the same batches for the same number of steps, with Adam and CLIP's loss, clamping the
temperature and reading the loss once per step. Runs alternate (fit, bare, fit, bare, ...) so
a busy machine slows both alike. The target on a 2-core CPU: fit costs at most 5 % more.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

import xmlab as xm


def setup(steps: int, batch_size: int, width: int):
    """Data for exactly ``steps`` batches, and a function that builds the same fresh model."""
    ds = xm.data.make_shapes(steps * batch_size, seed=0)
    tok = xm.preprocess.WordTokenizer.build(ds.captions)
    loader = xm.data.pair_loader(ds, tok, batch_size=batch_size, drop_last=True)

    def make_model():
        torch.manual_seed(0)
        return xm.encoders.shapes_dual_encoder(len(tok), embed_dim=32, width=width)

    return loader, make_model


def bare_loop(model, loader, lr: float) -> float:
    """The loop ``fit`` replaces, written out: seconds for one pass over ``loader``."""
    start = time.perf_counter()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for batch in loader:
        out = model(batch["image"], batch["input_ids"], batch["attention_mask"])
        loss = xm.losses.clip_loss(
            out["image_emb"], out["text_emb"], logit_scale=out["logit_scale"]
        )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        xm.encoders.clamp_temperature(model)
        loss.item()
    return time.perf_counter() - start


def with_fit(model, loader, lr: float, progress: bool) -> float:
    """Seconds for one epoch of ``xm.train.fit`` over ``loader``."""
    start = time.perf_counter()
    config = xm.train.TrainConfig(epochs=1, lr=lr, device="cpu", progress=progress)
    xm.train.fit(model, loader, config=config)
    return time.perf_counter() - start


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=40, help="optimiser steps per run")
    parser.add_argument("--runs", type=int, default=7, help="timed runs of each (median)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--width", type=int, default=64, help="encoder width")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (2: the laptop)")
    parser.add_argument("--progress", action="store_true", help="fit shows its progress bar")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    loader, make_model = setup(args.steps, args.batch_size, args.width)
    with_fit(make_model(), loader, 1e-3, args.progress)  # warm-up of both paths
    bare_loop(make_model(), loader, 1e-3)
    fit_times, bare_times = [], []
    for _ in range(args.runs):
        fit_times.append(with_fit(make_model(), loader, 1e-3, args.progress))
        bare_times.append(bare_loop(make_model(), loader, 1e-3))
    fit_s, bare_s = statistics.median(fit_times), statistics.median(bare_times)
    ratio = fit_s / bare_s
    print(f"fit vs bare loop: {args.steps} steps, batch {args.batch_size}, width {args.width}, "
          f"{torch.get_num_threads()} threads, {args.runs} alternating runs each"
          f"{', progress bar on' if args.progress else ''}")  # fmt: skip
    print(f"  bare loop: median {bare_s:.3f} s ({1000 * bare_s / args.steps:.1f} ms/step), "
          f"min {min(bare_times):.3f}, max {max(bare_times):.3f}")  # fmt: skip
    print(f"  xm.train.fit: median {fit_s:.3f} s ({1000 * fit_s / args.steps:.1f} ms/step), "
          f"min {min(fit_times):.3f}, max {max(fit_times):.3f}")  # fmt: skip
    print(f"  ratio fit / bare: {ratio:.3f} ({100 * (ratio - 1):+.1f} %); "
          f"target <= 1.05: {'met' if ratio <= 1.05 else 'MISSED'}")  # fmt: skip


if __name__ == "__main__":
    main()
