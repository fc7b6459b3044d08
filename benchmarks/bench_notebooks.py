"""Peak memory and one-thread time of each notebook, as mybinder.org would run it.

mybinder.org gives a session about 2 GB of RAM and one CPU. This script executes each notebook
with its classroom defaults (papermill, as ``make run`` does), one at a time, pinned to one CPU
core with one torch thread (``OMP_NUM_THREADS=1``, what ``torch.set_num_threads(1)`` sets), and
measures:

- **seconds**: wall time of the execution, kernel start included;
- **CPU seconds**: processor time the kernel and its helper processes used; on a busy machine
  it stays close to what the wall time would be on an idle core;
- **kernel peak RSS**: the most resident memory the notebook's kernel held (its ``VmHWM``,
  exact);
- **all processes, peak PSS**: the most memory the kernel and every process it started (torchrun
  and its workers, a sweep's kernels) held together, sampled every 100 ms. PSS splits pages that
  processes share, so it adds up to what the machine holds, like the container's limit counts;
  the sum of RSS would count the shared torch libraries once per process.

The target is at most 1.5 GB for every notebook (all processes), leaving room for the Jupyter
server. Every process that imports torch pays a fixed price first; the script prints it for the
torch installed here. A CUDA build of torch (PyPI's default on Linux) costs about 0.3 GB more
per process than the CPU-only build that Binder installs (``binder/requirements.txt``).

    python benchmarks/bench_notebooks.py                  # every notebooks/NN_*.ipynb
    python benchmarks/bench_notebooks.py notebooks/03_*.ipynb --cpus 2
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
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


def _is_kernel(proc: psutil.Process) -> bool:
    return any("ipykernel" in part for part in proc.cmdline())


class PeakMemory:
    """Sample memory and CPU time of this process's children (and theirs) in a thread."""

    def __init__(self, interval: float = 0.1):
        self.interval = interval
        self.kernel_mb = 0.0  # the notebook's own kernel: its VmHWM
        self.tree_mb = 0.0  # every descendant together: the largest sampled sum of PSS
        self._cpu: dict[int, float] = {}  # pid -> the latest user + system seconds seen
        self._kernel_pid: int | None = None  # the first kernel seen is the notebook's
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            total = 0.0
            for proc in me.children(recursive=True):
                try:
                    total += proc.memory_full_info().pss / 1e6
                    if self._kernel_pid is None and _is_kernel(proc):
                        self._kernel_pid = proc.pid
                    if proc.pid == self._kernel_pid:
                        self.kernel_mb = max(self.kernel_mb, _hwm_mb(proc))
                    times = proc.cpu_times()
                    self._cpu[proc.pid] = times.user + times.system
                except psutil.Error:
                    pass  # it ended between listing and reading
            self.tree_mb = max(self.tree_mb, total)
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


def torch_import_mb() -> tuple[float, str]:
    """Resident memory of a fresh Python that has imported torch, and which torch it is."""
    code = (
        "import resource, torch\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1000, torch.__version__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    mb, version = out.stdout.split()
    return float(mb), version


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
        "kernel_peak_rss_mb": round(memory.kernel_mb),
        "all_processes_peak_pss_mb": round(memory.tree_mb),
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
    baseline, version = torch_import_mb()
    print(f"{len(notebooks)} notebooks on {args.cpus} CPU core(s), one torch thread each")
    print(f"torch {version}: a process that imports it holds {baseline:.0f} MB before any work")
    print("| notebook | status | seconds | CPU seconds | kernel peak RSS (MB) "
          "| all processes, peak PSS (MB) | <= 1.5 GB |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for nb in notebooks:
            row = bench(nb, Path(tmp))
            rows.append(row)
            peak = max(row["kernel_peak_rss_mb"], row["all_processes_peak_pss_mb"])
            cells = [row["notebook"], row["status"], row["seconds"], row["cpu_seconds"],
                     row["kernel_peak_rss_mb"], row["all_processes_peak_pss_mb"],
                     "yes" if peak <= LIMIT_MB else "**no**"]  # fmt: skip
            print("| " + " | ".join(map(str, cells)) + " |", flush=True)
    for row in rows:
        if row["error"]:
            print(f"{row['notebook']} failed at {row['error']}")
    if args.json:
        args.json.write_text(json.dumps({"torch": version, "torch_import_mb": baseline,
                                         "rows": rows}, indent=2) + "\n")  # fmt: skip


if __name__ == "__main__":
    start = time.perf_counter()
    main()
    print(f"total {time.perf_counter() - start:.0f} s")
