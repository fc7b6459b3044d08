"""What do the kit's input checks cost? ``clip_loss`` / ``siglip_loss`` against bare formulas.

    python benchmarks/bench_losses.py                 # B=256 D=128 and B=1024 D=512
    python benchmarks/bench_losses.py --calls 1000 --threads 2

Each loss is timed forward and backward beside a bare implementation of the same formula (no
checks), on the same unit-length embeddings, one call of each in turn, in CPU time (other
processes on a busy machine count for neither); the medians are reported. Both must give the
same loss. The target: the checked loss costs at most 5 % more than the bare one (ratio <= 1.05).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

import xmlab as xm


def bare_clip(image_emb, text_emb, *, logit_scale):
    """CLIP's symmetric InfoNCE, written out without a check."""
    logits = logit_scale * image_emb @ text_emb.T  # (B, B)
    targets = torch.arange(logits.shape[0])
    return (F.cross_entropy(logits, targets) + F.cross_entropy(logits.T, targets)) / 2


def bare_siglip(image_emb, text_emb, *, logit_scale, logit_bias):
    """SigLIP's pairwise sigmoid loss, written out without a check."""
    logits = logit_scale * image_emb @ text_emb.T + logit_bias  # (B, B)
    signs = 2 * torch.eye(logits.shape[0]) - 1  # (B, B)
    return -F.logsigmoid(signs * logits).sum() / logits.shape[0]


def inputs(batch: int, dim: int, seed: int = 0) -> dict:
    """Unit-length embeddings that need gradients, a learnable scale and bias."""
    g = torch.Generator().manual_seed(seed)
    emb = [F.normalize(torch.randn(batch, dim, generator=g), dim=-1) for _ in range(2)]
    return {
        "image_emb": emb[0].requires_grad_(),
        "text_emb": emb[1].requires_grad_(),
        "logit_scale": torch.tensor(2.65).requires_grad_(),
        "logit_bias": torch.tensor(-10.0).requires_grad_(),
    }


def time_call(loss_fn, args: dict) -> float:
    """CPU seconds of one forward and backward pass (CPU time: other processes on a busy
    machine do not count, only the work of this one)."""
    start = time.process_time()
    loss_fn(**args).backward()
    for value in args.values():
        value.grad = None
    return time.process_time() - start


def compare(name, checked, bare, args: dict, calls: int) -> tuple[float, float]:
    """Median CPU seconds per call of the checked and the bare loss, calls alternating."""
    a, b = checked(**args), bare(**args)
    assert torch.allclose(a, b, rtol=1e-5, atol=1e-6), f"{name}: {a.item()} != {b.item()}"
    times = {"checked": [], "bare": []}
    for i in range(calls + 5):  # the first 5 of each warm up
        pair = [("checked", checked), ("bare", bare)]
        for key, fn in pair if i % 2 else pair[::-1]:
            times[key].append(time_call(fn, args))
    return statistics.median(times["checked"][5:]), statistics.median(times["bare"][5:])


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=400, help="timed calls of each at B=256")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"loss forward+backward, checked vs bare: median CPU ms per call, calls alternating, "
          f"{torch.get_num_threads()} thread(s)")  # fmt: skip
    print(f"{'loss':<8} {'B':>5} {'D':>4} {'bare ms':>9} {'xmlab ms':>9} {'ratio':>6}  target")
    for batch, dim in ((256, 128), (1024, 512)):
        full = inputs(batch, dim)
        calls = max(20, args.calls * 256 // batch)
        clip_args = {k: full[k] for k in ("image_emb", "text_emb", "logit_scale")}
        for name, checked, bare, loss_args in (
            ("clip", xm.losses.clip_loss, bare_clip, clip_args),
            ("siglip", xm.losses.siglip_loss, bare_siglip, full),
        ):
            ours, ref = compare(name, checked, bare, loss_args, calls)
            ratio = ours / ref
            verdict = "met" if ratio <= 1.05 else "MISSED"
            print(f"{name:<8} {batch:>5} {dim:>4} {1000 * ref:>9.3f} {1000 * ours:>9.3f} "
                  f"{ratio:>6.3f}  <= 1.05 {verdict}")  # fmt: skip


if __name__ == "__main__":
    main()
