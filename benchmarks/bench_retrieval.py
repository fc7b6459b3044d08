"""How fast is ``xm.metrics.retrieval_metrics``? Against a bare matmul-and-count, side by side.

    python benchmarks/bench_retrieval.py                    # N = 1,000, 4,000 and 16,000
    python benchmarks/bench_retrieval.py --sizes 100000 --runs 1

Both compute, in both directions, the rank of each query's partner among N unit vectors of
width 128 (one similarity matmul per chunk of 1,024 queries, then a count per query of the
items scoring at least as high), and from the ranks R@1/5/10, mean and median rank and mAP.
The bare reference is those lines and nothing else: no checks, no labels, no tie rule of its
own (counting ``>=`` is the pessimistic rule). Both must give identical results. Runs
alternate; the median CPU time of each is reported (CPU time: other processes on a busy
machine count for neither), with the peak memory each call adds to the process (resident
memory sampled every millisecond). The target: at most 1.5x the reference.
"""

from __future__ import annotations

import argparse
import os
import statistics
import threading
import time

import torch
import torch.nn.functional as F

import xmlab as xm


def reference(image_emb: torch.Tensor, text_emb: torch.Tensor, chunk: int = 1024) -> dict:
    """Ranks by one matmul and a count per chunk, and the metrics read off them."""
    out = {}
    for name, queries, gallery in (("image_to_text_", image_emb, text_emb),
                                   ("text_to_image_", text_emb, image_emb)):  # fmt: skip
        ranks = []
        for start in range(0, len(queries), chunk):
            block = queries[start : start + chunk] @ gallery.T  # (c, N)
            own = block.diagonal(offset=start)[:, None]  # (c, 1) each query's partner
            ranks.append((block >= own).sum(1))
        ranks = torch.cat(ranks).float()
        for k in (1, 5, 10):
            out[f"{name}R@{k}"] = (ranks <= k).float().mean().item()
        out[f"{name}mean_rank"] = ranks.mean().item()
        out[f"{name}median_rank"] = ranks.median().item()
        out[f"{name}mAP"] = (1 / ranks).mean().item()
    return out


def pairs(n: int, dim: int = 128, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Unit vectors where text i is a noisy copy of image i (ranks spread from 1 up)."""
    g = torch.Generator().manual_seed(seed)
    image = F.normalize(torch.randn(n, dim, generator=g), dim=1)
    text = F.normalize(image + 1.2 * torch.randn(n, dim, generator=g) / dim**0.5, dim=1)
    return image, text


def resident_mb() -> float:
    """This process's resident memory in MB (Linux: /proc/self/statm)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def measure(fn, *args) -> tuple[float, float, dict]:
    """CPU seconds of ``fn(*args)``, the most memory it added (MB) and its result."""
    before, peak, done = resident_mb(), [0.0], threading.Event()

    def sample():
        while not done.wait(0.001):
            peak[0] = max(peak[0], resident_mb() - before)

    sampler = threading.Thread(target=sample)
    sampler.start()
    start = time.process_time()
    result = fn(*args)
    seconds = time.process_time() - start
    done.set()
    sampler.join()
    return seconds, max(peak[0], resident_mb() - before), result


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 4000, 16000])
    parser.add_argument("--runs", type=int, default=5, help="alternating runs of each (median)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()
    print(f"retrieval_metrics vs bare matmul-and-count, width 128, both directions, {threads} "
          f"thread(s); median CPU s of {args.runs} alternating runs; peak MB added")  # fmt: skip
    print(f"{'N':>7} {'bare s':>8} {'xmlab s':>8} {'ratio':>6} {'same':>5} "
          f"{'bare MB':>8} {'xmlab MB':>8}  target")  # fmt: skip
    for n in args.sizes:
        image, text = pairs(n)
        times, peaks, results = {"bare": [], "xmlab": []}, {"bare": 0.0, "xmlab": 0.0}, {}
        for _ in range(args.runs):
            for name, fn in (("xmlab", xm.metrics.retrieval_metrics), ("bare", reference)):
                seconds, peak, result = measure(fn, image, text)
                times[name].append(seconds)
                peaks[name] = max(peaks[name], peak)
                results[name] = result
        ref, kit = statistics.median(times["bare"]), statistics.median(times["xmlab"])
        same = results["xmlab"] == results["bare"]
        verdict = "met" if kit / ref <= 1.5 and same else "MISSED"
        print(f"{n:>7} {ref:>8.3f} {kit:>8.3f} {kit / ref:>6.2f} {str(same):>5} "
              f"{peaks['bare']:>8.0f} {peaks['xmlab']:>8.0f}  <= 1.5 {verdict}")  # fmt: skip


if __name__ == "__main__":
    main()
