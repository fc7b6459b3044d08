"""Peak memory and one-thread time of each notebook, as mybinder.org would run it.

mybinder.org gives a session about 2 GB of RAM and one CPU. This script executes each notebook
with its classroom defaults (papermill, as ``make run`` does), one at a time, pinned to one CPU
core with one torch thread (``OMP_NUM_THREADS=1``, what ``torch.set_num_threads(1)`` sets), and
measures:

- **seconds**: wall time of the execution, kernel start included;
- **CPU seconds**: processor time the kernel and its helper processes used; on a busy machine
  it stays close to what the wall time would be on an idle core;
- **peak RSS**: the most resident memory the notebook's kernel held, with any processes it
  started (a sweep's workers and their kernels), sampled every 50 ms; a single process's own
  peak (``VmHWM``, exact) is used when it is higher.

The target is a peak of at most 1.5 GB for every notebook, leaving room for the Jupyter server.

    python benchmarks/bench_notebooks.py                  # every notebooks/NN_*.ipynb
    python benchmarks/bench_notebooks.py notebooks/03_*.ipynb --cpus 2
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import threading
import time
from pathlib import Path

import psutil

from xmlab.course import execute, find_notebooks

LIMIT_MB = 1500  # 1.5 GB


def _hwm_mb(proc: psutil.Process) -> float:
    """A process's own peak resident memory (Linux ``VmHWM``), 0 where it cannot be read."""
    try:
        for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1000  # kB -> MB
    except (OSError, ValueError):
        pass
    return 0.0


class PeakMemory:
    """Sample memory and CPU time of this process's children (and theirs) in a thread."""

    def __init__(self, interval: float = 0.05):
        self.interval, self.peak_mb = interval, 0.0
        self._cpu: dict[int, float] = {}  # pid -> the latest user + system seconds seen
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            total = 0.0
            for proc in me.children(recursive=True):
                try:
                    total += proc.memory_info().rss / 1e6
                    self.peak_mb = max(self.peak_mb, _hwm_mb(proc))
                    times = proc.cpu_times()
                    self._cpu[proc.pid] = times.user + times.system
                except psutil.Error:
                    pass  # it ended between listing and reading
            self.peak_mb = max(self.peak_mb, total)
            self._stop.wait(self.interval)

    @property
    def cpu_seconds(self) -> float:
        return sum(self._cpu.values())

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def one_cpu_setup(cpus: int) -> None:
    """Pin this process (and so every kernel it starts) to ``cpus`` cores, one torch thread."""
    if hasattr(os, "sched_setaffinity"):
        allowed = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, allowed[:cpus])
    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = "1"
    os.environ.pop("XMLAB_CI_LIGHT", None)  # the classroom defaults, as `make run` executes


def bench(notebook: Path, out: Path) -> dict:
    """Execute one notebook and return its status, seconds and peak memory."""
    with PeakMemory() as memory:
        result = execute(notebook, out)
    return {
        "notebook": notebook.name,
        "status": result.status,
        "seconds": result.seconds,
        "cpu_seconds": round(memory.cpu_seconds, 1),
        "peak_mb": round(memory.peak_mb),
        "error": result.error,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: the course notebooks")
    parser.add_argument("--cpus", type=int, default=1, help="cores to allow (Binder: 1)")
    parser.add_argument("--json", type=Path, help="also write the rows to this file")
    args = parser.parse_args()
    notebooks = args.notebooks or find_notebooks("notebooks")
    one_cpu_setup(args.cpus)
    print(f"{len(notebooks)} notebooks on {args.cpus} CPU core(s), one torch thread each")
    print("| notebook | status | seconds | CPU seconds | peak RSS (MB) | <= 1.5 GB |")
    print("|---|---|---|---|---|---|")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for nb in notebooks:
            row = bench(nb, Path(tmp))
            rows.append(row)
            ok = "yes" if row["peak_mb"] <= LIMIT_MB else "**no**"
            cells = [row["notebook"], row["status"], row["seconds"], row["cpu_seconds"]]
            print("| " + " | ".join(map(str, [*cells, row["peak_mb"], ok])) + " |", flush=True)
    for row in rows:
        if row["error"]:
            print(f"{row['notebook']} failed at {row['error']}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    start = time.perf_counter()
    main()
    print(f"total {time.perf_counter() - start:.0f} s")
