"""Run the course headless: execute notebooks in order with papermill and summarise them.

``xmlab run`` (and ``make run``) call :func:`run_course`. Each run gets its own folder
``runs/<timestamp>/`` (``runs/latest`` points at the newest) holding the executed notebooks,
the metrics each notebook recorded with ``xm.record``, and ``summary.md`` / ``summary.json``.

Explained in: README.md
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from xmlab.course.kernels import kernel_config, papermill_options
from xmlab.course.record import ENV_VAR, read_records


@dataclass
class NotebookResult:
    """What happened to one notebook of a run."""

    notebook: str  # file name
    status: str  # "ok" or "failed"
    seconds: float  # wall time of the execution
    device: str  # the device the notebook recorded (or "?")
    metrics: dict = field(default_factory=dict)  # name -> value recorded with xm.record
    error: str = ""  # for a failed notebook: the cell and the error


def find_notebooks(folder: str | os.PathLike = "notebooks") -> list[Path]:
    """The course notebooks ``NN_name.ipynb`` of ``folder`` in reading order."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(
            f"no notebook folder at {folder.resolve()}: run from the "
            "repository root or pass --notebooks FOLDER"
        )
    found = sorted(p for p in folder.glob("[0-9][0-9]_*.ipynb"))
    if not found:
        raise FileNotFoundError(f"{folder} holds no notebooks named like 00_welcome.ipynb")
    return found


def new_run_folder(root: str | os.PathLike = "runs") -> Path:
    """Make ``root/<timestamp>/`` and point ``root/latest`` at it."""
    root = Path(root)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    run = root / stamp
    suffix = 1
    while run.exists():
        run, suffix = root / f"{stamp}-{suffix}", suffix + 1
    run.mkdir(parents=True)
    latest = root / "latest"
    tmp = root / f".latest-{os.getpid()}"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(run.name, target_is_directory=True)
    os.replace(tmp, latest)  # atomic: readers see the old or the new link, never none
    return run


def execute(notebook: Path, run: Path, parameters: dict | None = None) -> NotebookResult:
    """Execute one notebook into ``run`` with papermill and collect its recorded metrics."""
    import papermill as pm

    records = run / f"{notebook.stem}.metrics.jsonl"
    os.environ[ENV_VAR] = str(records.resolve())
    start, status, error = time.perf_counter(), "ok", ""
    try:
        pm.execute_notebook(
            str(notebook),
            str(run / notebook.name),
            parameters=parameters or {},
            cwd=str(notebook.parent),
            progress_bar=False,
            kernel_name="python3",
            **papermill_options(),
        )
    except pm.PapermillExecutionError as err:
        status, error = "failed", f"cell {err.exec_count}: {err.ename}: {err.evalue}"
    except Exception as err:  # a kernel that died, a bad notebook file...
        status, error = "failed", f"{type(err).__name__}: {err}"
    finally:
        os.environ.pop(ENV_VAR, None)
    return _result(notebook, records, parameters, start, status, error)


# papermill's own process: parameters travel as JSON, so 1e-05 stays a float and lists stay lists
_PAPERMILL = """import json, sys
import papermill as pm
from traitlets.config import Config
nb, out, cwd, params, config = sys.argv[1:]
pm.execute_notebook(nb, out, parameters=json.loads(params), cwd=cwd, progress_bar=False,
                    kernel_name="python3", config=Config(json.loads(config)))
"""


def execute_in_subprocess(
    notebook: Path, run: Path, parameters: dict | None = None, *, threads: int | None = None
) -> NotebookResult:
    """:func:`execute` with papermill in a process of its own.

    The papermill process imports neither torch nor the kit, so the memory of a run is its
    kernel's alone; several of these can run at once from threads. ``threads`` sets
    ``OMP_NUM_THREADS`` (torch's threads) in the kernel.
    """
    run.mkdir(parents=True, exist_ok=True)
    records = run / f"{notebook.stem}.metrics.jsonl"
    output = run / notebook.name
    env = {**os.environ, ENV_VAR: str(records.resolve())}
    if threads:
        env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(threads)
    command = [sys.executable, "-c", _PAPERMILL, str(notebook), str(output),
               str(notebook.parent), json.dumps(parameters or {}),
               json.dumps(kernel_config())]  # fmt: skip
    start = time.perf_counter()
    proc = subprocess.run(command, env=env, capture_output=True, text=True)
    status, error = "ok", ""
    if proc.returncode != 0:
        status = "failed"
        last_line = (proc.stderr.strip().splitlines() or ["papermill failed"])[-1]
        error = failed_cell(output) or last_line
    return _result(notebook, records, parameters, start, status, error)


def _result(notebook: Path, records: Path, parameters, start: float, status: str, error: str):
    """The :class:`NotebookResult` of a finished execution, with the metrics it recorded."""
    metrics = read_records(records)
    device = str(metrics.pop("device", None) or _default_device(parameters))
    return NotebookResult(
        notebook.name, status, round(time.perf_counter() - start, 1), device, metrics, error
    )


def failed_cell(executed: Path) -> str:
    """``"cell N: Error: message"`` for the first cell of an executed notebook that raised."""
    try:
        cells = json.loads(executed.read_text(encoding="utf-8"))["cells"]
    except (OSError, ValueError, KeyError):
        return ""
    for cell in cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                return f"cell {cell.get('execution_count')}: {out['ename']}: {out['evalue']}"
    return ""


def _default_device(parameters: dict | None) -> str:
    """The device a notebook that recorded none ran on: its ``device`` parameter, resolved."""
    from xmlab.utils import get_device

    try:
        return str(get_device((parameters or {}).get("device", "auto")))
    except ValueError:
        return "?"


def summary_markdown(results: list[NotebookResult]) -> str:
    """A markdown table: notebook, status, seconds, device, metrics (and errors below)."""
    lines = ["| notebook | status | seconds | device | metrics |", "|---|---|---|---|---|"]
    for r in results:
        metrics = ", ".join(
            f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in r.metrics.items()
        )
        lines.append(f"| {r.notebook} | {r.status} | {r.seconds:.1f} | {r.device} | {metrics} |")
    for r in results:
        if r.error:
            lines.append(f"\n**{r.notebook} failed** at {r.error}")
    return "\n".join(lines) + "\n"


def run_course(
    notebooks: list[Path], *, out: str | os.PathLike = "runs", parameters: dict | None = None
) -> tuple[Path, list[NotebookResult]]:
    """Execute ``notebooks`` in order into a new run folder and write its summary.

    A failing notebook is reported and the others still run.
    """
    run = new_run_folder(out)
    results = []
    for nb in notebooks:
        print(f"running {nb.name} ...", flush=True)
        results.append(execute(nb, run, parameters))
        print(f"  {results[-1].status} in {results[-1].seconds:.1f} s", flush=True)
    (run / "summary.json").write_text(json.dumps([asdict(r) for r in results], indent=2) + "\n")
    (run / "summary.md").write_text(summary_markdown(results))
    return run, results
