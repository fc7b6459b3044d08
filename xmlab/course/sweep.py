"""Parameter sweeps: run one notebook over a grid of parameters and collect what it recorded.

``xmlab sweep NOTEBOOK -p temperature 0.03 0.1 0.3 -p batch_size 32 128`` executes the notebook
once per grid point with papermill, several runs at once (one per CPU core, each with one torch
thread), and writes ``results.csv`` (one row per run: status, seconds, parameters, every metric
the notebook recorded with ``xm.record``) and ``sweep.png`` into ``runs/sweeps/<timestamp>/``.
A failing run is reported in its row and the others go on.

Explained in: notebooks/10_capstone.ipynb
"""

from __future__ import annotations

import csv
import itertools
import math
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from xmlab import release
from xmlab.course.runner import NotebookResult, execute_in_subprocess, new_run_folder
from xmlab.utils import moved

FIXED_COLUMNS = ("run", "status", "seconds", "device_used")  # then parameters, then metrics
REPOSITORY_RAW = release.raw_url()  # the repository's files at the release's tag


def parse_value(text: str):
    """A command-line value as an int, a float, a boolean, or else the string itself."""
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def grid(parameters: dict[str, Sequence]) -> list[dict]:
    """Every combination of the values: ``{"a": [1, 2], "b": [3]}`` -> ``[{a:1,b:3}, {a:2,b:3}]``.

    The first parameter varies slowest, like nested loops written in the same order.
    """
    if not parameters:
        raise ValueError("a sweep needs at least one parameter with values, e.g. -p lr 1e-3 1e-2")
    for name, values in parameters.items():
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
            raise ValueError(f"parameter {name!r} needs a non-empty list of values, got {values!r}")
    names = list(parameters)
    return [dict(zip(names, combo)) for combo in itertools.product(*parameters.values())]


def available_cpus() -> int:
    """CPU cores this process may use: its affinity mask, capped by a cgroup CPU quota.

    Containers such as Binder's report the host's cores through ``os.cpu_count()`` but allow
    only a quota (``/sys/fs/cgroup/cpu.max``), so both limits are read.
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            cores = min(cores, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass  # no cgroup v2 quota: the affinity mask is the limit
    return max(1, cores or 1)


def experiment_notebook(path: str | os.PathLike, *, fetch=None) -> Path:
    """The notebook at ``path`` (relative to ``notebooks/``), fetched when it is not there.

    In JupyterLab, on Binder and under ``make test`` the repository is checked out and the file
    is used as it is. Colab opens a single notebook without the folder around it, so there the
    file is fetched once from the kit's repository and written to ``path``.

    Args:
        path: e.g. ``"experiments/shapes_contrastive.ipynb"``.
        fetch: ``fetch(url) -> bytes``; defaults to a plain HTTP download.
    """
    import nbformat

    from xmlab.data.download import atomic_write, urllib_fetch

    path = Path(path)
    if path.is_file():
        return path
    url = REPOSITORY_RAW + "notebooks/" + path.as_posix()
    data = (fetch or urllib_fetch)(url)
    try:
        nbformat.reads(data.decode("utf-8"), as_version=4)
    except Exception as err:
        raise ValueError(f"{url} did not return a notebook ({err}): check the path") from err
    atomic_write(path, data)
    return path


def _run_point(notebook: Path, folder: Path, parameters: dict) -> NotebookResult:
    """One grid point: papermill in its own process, one torch thread in the kernel."""
    return execute_in_subprocess(notebook, folder, parameters, threads=1)


def _failed(notebook: Path, err: BaseException) -> NotebookResult:
    return NotebookResult(notebook.name, "failed", 0.0, "?", {}, f"{type(err).__name__}: {err}")


@dataclass
class Sweep:
    """A finished sweep: its folder, and one row per grid point in grid order."""

    folder: Path  # holds results.csv, sweep.png and one run-NNN/ folder per grid point
    rows: list[
        dict
    ]  # {"run", "status", "seconds", "device_used", **parameters, **metrics, "error"}

    @property
    def csv(self) -> Path:
        return self.folder / "results.csv"

    @property
    def failed(self) -> list[dict]:
        return [row for row in self.rows if row["status"] != "ok"]


def run_sweep(
    notebook: str | os.PathLike,
    parameters: dict[str, Sequence],
    *,
    out: str | os.PathLike = "runs/sweeps",
    workers: int | None = None,
    metric: str | None = None,
    verbose: bool = True,
) -> Sweep:
    """Execute ``notebook`` at every point of the grid and collect the results.

    Args:
        notebook: the notebook to run; it needs a cell tagged ``parameters``.
        parameters: name -> values; the grid is every combination (see :func:`grid`).
        out: a new ``<timestamp>/`` folder is made under it (``out/latest`` points at it).
        workers: runs at once; default one per available core, never more than the runs.
        metric: the metric to plot in ``sweep.png``; default the first numeric one recorded.
        verbose: print one line per finished run.

    Returns:
        The :class:`Sweep`; its ``rows`` are also in ``results.csv``.
    """
    notebook = Path(notebook)
    if not notebook.is_file():
        raise FileNotFoundError(f"no notebook at {notebook.resolve()}: check the path")
    points = grid(parameters)
    folder = new_run_folder(out)
    workers = max(1, min(workers or available_cpus(), len(points)))
    results = _execute_all(notebook, folder, points, workers, verbose)
    rows = [_row(i, p, r) for i, (p, r) in enumerate(zip(points, results), start=1)]
    write_csv(folder / "results.csv", rows)
    plot_to_file(rows, list(parameters), folder / "sweep.png", metric=metric)
    return Sweep(folder, rows)


def _execute_all(notebook, folder, points, workers, verbose) -> list[NotebookResult]:
    results: list[NotebookResult | None] = [None] * len(points)
    # threads only wait: each run is a papermill process (no torch in it) and its kernel
    with ThreadPoolExecutor(workers) as pool:
        futures = {
            pool.submit(_run_point, notebook.resolve(), folder / f"run-{i:03d}", p): i - 1
            for i, p in enumerate(points, start=1)
        }
        for done, future in enumerate(as_completed(futures), start=1):
            i = futures[future]
            try:
                results[i] = future.result()
            except Exception as err:  # a run that could not start: report it, go on
                results[i] = _failed(notebook, err)
            if verbose:
                settings = " ".join(f"{k}={v}" for k, v in points[i].items())
                r = results[i]
                print(f"[{done}/{len(points)}] {r.status} in {r.seconds:.1f} s: {settings}")
    return results


def _row(index: int, parameters: dict, result: NotebookResult) -> dict:
    row = dict(zip(FIXED_COLUMNS, (index, result.status, result.seconds, result.device)))
    return {**row, **parameters, **result.metrics, "error": result.error}


def write_csv(path: str | os.PathLike, rows: list[dict]) -> Path:
    """Write rows (dicts, possibly with different keys) to a CSV with every key as a column."""
    columns = list(dict.fromkeys(key for row in rows for key in row))
    with Path(path).open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return Path(path)


def read_csv(path: str | os.PathLike) -> list[dict]:
    """The rows of a sweep's ``results.csv``, with numbers and booleans parsed back."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no results at {path}: run a sweep first (xmlab sweep ...)")
    with path.open(newline="", encoding="utf-8") as f:
        return [{k: parse_value(v) for k, v in row.items()} for row in csv.DictReader(f)]


def numeric_metrics(rows: list[dict], parameters: Sequence[str]) -> list[str]:
    """The columns holding numbers that are neither fixed columns nor parameters."""
    skip = {*FIXED_COLUMNS, *parameters, "error"}
    columns = dict.fromkeys(key for row in rows for key in row if key not in skip)
    return [
        c
        for c in columns
        if any(isinstance(r.get(c), (int, float)) and not isinstance(r.get(c), bool) for r in rows)
    ]


def markdown_table(rows: list[dict], columns: Sequence[str], *, digits: int = 3) -> str:
    """A markdown table of ``columns`` of ``rows`` (floats rounded), to show in a notebook."""
    fmt = lambda v: f"{v:.{digits}f}" if isinstance(v, float) else str(v)
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(fmt(row.get(c, "")) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def plot_to_file(rows: list[dict], parameters: list[str], path: Path, *, metric=None) -> None:
    """Save :func:`plot_sweep` of the first numeric metric (or ``metric``) to ``path``."""
    import matplotlib.pyplot as plt

    from xmlab.viz.sweep import plot_sweep

    metrics = numeric_metrics(rows, parameters)
    metric = metric or (metrics[0] if metrics else None)
    if metric is None:
        return  # every run failed or nothing was recorded: the CSV says so
    ax = plot_sweep(rows, metric=metric, x=parameters[0], hue=(parameters[1:] or [None])[0])
    ax.figure.tight_layout()
    ax.figure.savefig(path, dpi=120)
    plt.close(ax.figure)


__getattr__ = moved({"plot_sweep": "xmlab.viz.sweep"}, __name__)  # the figure lives in viz
