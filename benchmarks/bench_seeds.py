"""Do a lesson's claims hold at other seeds? Runs a notebook once per seed and prints what it
recorded, seed by seed, with the mean and spread, and whether every check cell passed.

A notebook's check cells assert what the lesson claims at its defaults (``seed = 0``). This
script executes the whole notebook with papermill at each seed (``xmlab sweep`` underneath, one
torch thread per run, several runs at once), so every claim is tested again on other data and
other initial weights. A failed check prints the cell and the assertion that failed.

    python benchmarks/bench_seeds.py notebooks/07_fusion_and_multitask.ipynb
    python benchmarks/bench_seeds.py notebooks/03_joint_learning.ipynb --seeds 0 1 2 --workers 1
    python benchmarks/bench_seeds.py notebooks/10_capstone.ipynb -p workers 1

Timings on a shared machine are slow, not wrong: what matters here is which checks held.
"""

from __future__ import annotations

import argparse
import statistics

from xmlab.course.sweep import numeric_metrics, parse_value, run_sweep


def summary(rows: list[dict], fixed: list[str]) -> list[str]:
    """One line per recorded figure: its value at each seed, mean and standard deviation."""
    lines = []
    for name in numeric_metrics(rows, ["seed", "seconds", *fixed]):
        values = [row.get(name) for row in rows]
        numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
        shown = " ".join(f"{v:9.4g}" if v in numbers else f"{'-':>9}" for v in values)
        spread = statistics.stdev(numbers) if len(numbers) > 1 else 0.0
        lines.append(f"{name:36s} {shown} | {statistics.fmean(numbers):9.4g} ± {spread:.3g}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebook")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--workers", type=int, help="runs at once (default: one per core)")
    parser.add_argument("--out", default="runs/seeds", help="where the run folders go")
    parser.add_argument(
        "-p", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
        help="another fixed parameter for every run (repeatable)",
    )  # fmt: skip
    args = parser.parse_args()
    fixed = {name: [parse_value(value)] for name, value in args.p}
    sweep = run_sweep(
        args.notebook, {"seed": args.seeds, **fixed}, out=args.out, workers=args.workers
    )
    rows = sorted(sweep.rows, key=lambda row: row["seed"])
    print(f"{args.notebook} at seeds {[row['seed'] for row in rows]} (runs in {sweep.folder})")
    print(
        f"{'figure':36s} "
        + " ".join(f"{'seed ' + str(r['seed']):>9}" for r in rows)
        + " |  mean ± sd"
    )
    print("\n".join(summary(rows, list(fixed))))
    for row in rows:
        verdict = "every check passed" if row["status"] == "ok" else f"FAILED at {row['error']}"
        print(f"seed {row['seed']}: {verdict} ({row['seconds']:.0f} s)")


if __name__ == "__main__":
    main()
