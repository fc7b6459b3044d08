"""What `import xmlab` costs on top of `import torch`, and what loading lazily saves.

Each statement runs in a fresh interpreter, several times; the figures are medians of wall time.
`import xmlab` loads the three steps of the method but not figures, widgets or distributed
training; the `+ viz, widgets, distributed` row imports xmlab and touches those too, which is
what every `import xmlab` paid when they were imported eagerly. `--other-tree PATH` measures another
checkout of the kit side by side (e.g. the commit before a change, made with
`git worktree add /tmp/before <commit>`).

    python benchmarks/bench_import.py
    python benchmarks/bench_import.py --other-tree /tmp/before --repeats 15
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STATEMENTS = {
    "import torch": "import torch",
    "import xmlab": "import xmlab",
    "+ viz, widgets, distributed": (
        "import xmlab; xmlab.viz.show_similarity; xmlab.widgets.lr_lab; xmlab.distributed.launch"
    ),
    "xmlab --help": "from xmlab.cli import build_parser; build_parser().format_help()",
}


def seconds(statement: str, tree: Path, repeats: int) -> float:
    """Median wall time of running ``statement`` in a fresh interpreter importing ``tree``."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        # run inside the tree: `python -c` puts the working folder first on sys.path, ahead of
        # PYTHONPATH, so another folder holding an `xmlab/` would be measured instead
        subprocess.run([sys.executable, "-c", statement], env=env, cwd=tree, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9, help="runs per statement")
    parser.add_argument("--other-tree", type=Path, help="another checkout to measure beside")
    args = parser.parse_args()
    trees = {"this tree": ROOT} | ({"other tree": args.other_tree} if args.other_tree else {})
    results = {
        name: {label: seconds(code, tree, args.repeats) for label, code in STATEMENTS.items()}
        for name, tree in trees.items()
    }
    print(f"median wall seconds over {args.repeats} fresh interpreters ({sys.executable})")
    print(f"{'':42s}" + "".join(f"{name:>14s}" for name in results))
    for label in STATEMENTS:
        print(f"{label:42s}" + "".join(f"{r[label]:14.3f}" for r in results.values()))
    for name, r in results.items():
        over_torch = r["import xmlab"] - r["import torch"]
        saved = r["+ viz, widgets, distributed"] - r["import xmlab"]
        print(f"{name}: import xmlab costs {over_torch:.3f} s over torch; lazy loading saves "
              f"{saved:.3f} s")  # fmt: skip
    if args.other_tree:
        this, other = results["this tree"]["import xmlab"], results["other tree"]["import xmlab"]
        print(f"import xmlab: this tree / other tree = {this / other:.2f}")


if __name__ == "__main__":
    main()
