"""How many image-caption pairs per second does the Shapes dual encoder train on?

    python benchmarks/bench_throughput.py                      # CPU: 1 vs 2 processes
    python benchmarks/bench_throughput.py --global-batch 256 --steps 30 --repeats 3
    python benchmarks/bench_throughput.py --gpu                # CUDA: fp32 vs bf16, largest batch

On the CPU it runs the same training job (same global batch, same steps) three ways with
torchrun: one process with one thread (the baseline), one process with two threads, and two
processes with one thread each (gloo, gathered negatives). On a CUDA GPU it compares float32 with
bf16 autocast at one batch size, then doubles the batch until a training step no longer fits in
memory. Every figure is the median over ``--repeats`` runs, timed after the first step.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from dataclasses import replace

import torch

import xmlab as xm
import xmlab.distributed as xd


def cpu_pairs_per_second(config: xd.RunConfig, *, nproc: int, threads: int, repeats: int) -> float:
    """Median pairs per second of ``config`` launched on ``nproc`` processes x ``threads``."""
    runs = [xd.launch(config, nproc=nproc, threads=threads) for _ in range(repeats)]
    return statistics.median(r["pairs_per_second"] for r in runs)


def bench_cpu(args: argparse.Namespace) -> None:
    """One process (1 and 2 threads) against two processes on the same global batch."""
    out = tempfile.mkdtemp(prefix="xmlab-bench-")
    base = xd.RunConfig(
        steps=args.steps,
        pairs=args.pairs,
        width=args.width,
        embed_dim=args.embed_dim,
        device="cpu",
        log_every=0,
        out=out,
    )
    one, two = (
        replace(base, batch_size=args.global_batch),
        replace(base, batch_size=args.global_batch // 2),
    )
    rows = [
        (
            "1 process x 1 thread (baseline)",
            cpu_pairs_per_second(one, nproc=1, threads=1, repeats=args.repeats),
        ),
        (
            "1 process x 2 threads",
            cpu_pairs_per_second(one, nproc=1, threads=2, repeats=args.repeats),
        ),
        (
            "2 processes x 1 thread (gloo)",
            cpu_pairs_per_second(two, nproc=2, threads=1, repeats=args.repeats),
        ),
    ]
    print(
        f"CPU, global batch {args.global_batch}, width {args.width}, {args.steps} steps, "
        f"median of {args.repeats}"
    )
    for name, rate in rows:
        print(f"  {name:34s} {rate:8.0f} pairs/s  ({rate / rows[0][1]:.2f}x)")


def gpu_pairs_per_second(args: argparse.Namespace, precision: str) -> float:
    """Median pairs per second of in-process training on the GPU at ``--gpu-batch``."""
    config = xd.RunConfig(
        steps=args.steps,
        batch_size=args.gpu_batch,
        pairs=4 * args.gpu_batch,
        width=args.width,
        embed_dim=args.embed_dim,
        precision=precision,
        device="cuda",
        log_every=0,
    )
    return statistics.median(xd.train(config)["pairs_per_second"] for _ in range(args.repeats))


def train_step_fits(batch: int, precision: str, args: argparse.Namespace, device) -> bool:
    """Whether one forward + backward + AdamW step on ``batch`` random pairs fits in memory."""
    model = xm.encoders.shapes_dual_encoder(64, embed_dim=args.embed_dim, width=args.width)
    model = model.to(device)
    optimizer = torch.optim.AdamW(model.parameters())
    try:
        images = torch.randn(batch, 3, 32, 32, device=device)  # (B, 3, 32, 32)
        ids = torch.randint(4, 64, (batch, 16), device=device)  # (B, L)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
            out = model(images, ids, torch.ones_like(ids, dtype=torch.bool))
        img, txt = out["image_emb"].float(), out["text_emb"].float()
        xm.losses.clip_loss(img, txt, logit_scale=out["logit_scale"]).backward()
        optimizer.step()
        return True
    except torch.cuda.OutOfMemoryError:
        return False
    finally:
        del model, optimizer
        if device.type == "cuda":
            torch.cuda.empty_cache()


def largest_batch(precision: str, args: argparse.Namespace, device) -> int:
    """The largest power-of-two batch (up to ``--max-batch``) whose training step fits."""
    batch, best = 256, 0
    while batch <= args.max_batch and train_step_fits(batch, precision, args, device):
        best, batch = batch, 2 * batch
    return best


def bench_gpu(args: argparse.Namespace) -> None:
    """fp32 against bf16 autocast, then the largest batch of each."""
    if not torch.cuda.is_available():
        raise SystemExit("--gpu needs a CUDA GPU and none is visible: run without --gpu")
    device = torch.device("cuda")
    print(
        f"GPU {torch.cuda.get_device_name(device)}, batch {args.gpu_batch}, width "
        f"{args.width}, {args.steps} steps, median of {args.repeats}"
    )
    rates = {p: gpu_pairs_per_second(args, p) for p in ("fp32", "bf16")}
    for precision, rate in rates.items():
        print(f"  {precision}: {rate:10,.0f} pairs/s  ({rate / rates['fp32']:.2f}x)")
    for precision in ("fp32", "bf16"):
        biggest = largest_batch(precision, args, device)
        print(
            f"  largest batch that trains in {precision}: {biggest:,} pairs "
            f"(logits {biggest**2 * 4 / 2**30:.1f} GiB per direction)"
        )


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--gpu", action="store_true", help="benchmark the CUDA GPU instead")
    parser.add_argument("--global-batch", type=int, default=128, help="CPU pairs per step")
    parser.add_argument("--gpu-batch", type=int, default=4096, help="GPU pairs per step")
    parser.add_argument("--max-batch", type=int, default=2**18, help="stop the search here")
    parser.add_argument("--steps", type=int, default=20, help="optimiser steps per run")
    parser.add_argument("--pairs", type=int, default=2048, help="Shapes pairs (CPU runs)")
    parser.add_argument("--width", type=int, default=128, help="width of both encoders")
    parser.add_argument("--embed-dim", type=int, default=128, help="size of the shared space")
    parser.add_argument("--repeats", type=int, default=1, help="runs per figure (median)")
    args = parser.parse_args()
    if args.gpu:
        bench_gpu(args)
    else:
        bench_cpu(args)


if __name__ == "__main__":
    main()
