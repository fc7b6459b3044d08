"""How fast are Shapes scenes drawn and rendered? Prints the median of several runs.

    python benchmarks/bench_shapes.py                 # 10,000 scenes at 32 px, 5 runs
    python benchmarks/bench_shapes.py --n 10000 --image-size 64 --objects 3

The target on a 2-core CPU is 10,000 scenes (32 px, two objects) in 2 s or less. Beside the
vectorised renderer it times a per-scene Python loop over the same code on a few hundred scenes,
scaled to ``n``, as the baseline that vectorising beats.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

import xmlab as xm


def time_once(n: int, image_size: int, n_objects: int, seed: int) -> tuple[float, float]:
    """Wall and CPU seconds to sample and render ``n`` scenes, captions included."""
    start, cpu = time.perf_counter(), time.process_time()
    scenes = xm.data.sample_scenes(n, seed=seed, n_objects=n_objects)
    xm.data.render(scenes, image_size=image_size, seed=seed)
    xm.data.captions(scenes)
    return time.perf_counter() - start, time.process_time() - cpu


def time_loop(n: int, image_size: int, n_objects: int, sample: int = 200) -> float:
    """Seconds for ``n`` scenes rendered one at a time (measured on ``sample``, scaled up)."""
    scenes = xm.data.sample_scenes(sample, seed=0, n_objects=n_objects)
    start = time.perf_counter()
    for i in range(sample):
        one = xm.data.Scenes(*(getattr(scenes, f)[i : i + 1] for f in scenes.__dataclass_fields__))
        xm.data.render(one, image_size=image_size, seed=i)
    return (time.perf_counter() - start) * n / sample


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=10_000, help="scenes per run")
    parser.add_argument("--image-size", type=int, default=32, help="image side in pixels")
    parser.add_argument("--objects", type=int, default=2, help="objects per scene")
    parser.add_argument("--runs", type=int, default=5, help="timed runs (median reported)")
    args = parser.parse_args()
    torch.set_num_threads(min(torch.get_num_threads(), 2))  # the classroom laptop: 2 cores
    time_once(100, args.image_size, args.objects, seed=99)  # warm-up
    timed = [time_once(args.n, args.image_size, args.objects, seed=r) for r in range(args.runs)]
    runs = [wall for wall, _ in timed]
    loop = time_loop(args.n, args.image_size, args.objects)
    median = statistics.median(runs)
    cpu = statistics.median(c for _, c in timed)
    print(
        f"Shapes: {args.n} scenes, {args.image_size} px, {args.objects} objects, "
        f"{torch.get_num_threads()} threads"
    )
    print(
        f"  vectorised: median {median:.3f} s over {args.runs} runs "
        f"(min {min(runs):.3f}, max {max(runs):.3f}) -> {args.n / median:,.0f} scenes/s; "
        f"CPU time {cpu:.3f} s (summed over threads; unloaded, wall time is at most this)"
    )
    print(f"  baseline, one scene at a time: {loop:.2f} s (estimated from 200 scenes)")
    print(f"  speed-up: {loop / median:.0f}x; target <= 2 s: {'met' if median <= 2 else 'MISSED'}")


if __name__ == "__main__":
    main()
