"""The notebook the grader runs, and running it: the teacher's lesson and checks with the
student's answers in place, executed with papermill in a temporary folder under a time limit.

Explained in: xmlab/course/grade.py and docs/teaching.md
"""

from __future__ import annotations

import copy
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from xmlab.course.student import EXERCISE_TAG, STUDENT_FOLDER, find_exercises, read_notebook

GRADER_KEY = "xmlab_grade"  # cell metadata: {"exercise": N, "part": "answer" | "check" | "restore"}
_RESTORE = """# grader: the answer or the check of exercise {number} failed: run the model answer
if not (_xmlab_answer_ran and get_ipython().last_execution_succeeded):
    get_ipython().run_cell({source!r}, store_history=False)
"""
_PAPERMILL = """import sys
import papermill as pm
from jupyter_client.manager import KernelManager

nb, out, cwd, pid_file = sys.argv[1:]
km = KernelManager(kernel_name="python3")
km.start_kernel(cwd=cwd)
with open(pid_file, "w") as f:
    f.write(str(km.provisioner.pid))
try:
    pm.execute_notebook(nb, out, cwd=cwd, km=km, progress_bar=False, kernel_name="python3")
except pm.PapermillExecutionError:
    pass  # errors in student cells are expected: the grader reads them from the output
finally:
    km.shutdown_kernel(now=True)
"""


def _cell_ids(nb) -> dict[str, int]:
    return {cell.get("id"): i for i, cell in enumerate(nb.cells) if cell.get("id")}


def lesson_overlap(submission, teacher) -> float:
    """The fraction of the teacher's lesson cells (not exercises) found in the submission, by
    cell id or by identical text."""
    exercise_cells = {ex.cell for ex in find_exercises(teacher)}
    ids = set(_cell_ids(submission))
    texts = {cell.source.strip() for cell in submission.cells}
    lesson = [c for i, c in enumerate(teacher.cells) if i not in exercise_cells]
    found = sum(c.get("id") in ids or c.source.strip() in texts for c in lesson)
    return found / max(len(lesson), 1)


def find_answer(submission, teacher, exercise):
    """The submission's cell that answers ``exercise`` (a cell of the teacher), or ``None``."""
    wanted = teacher.cells[exercise.cell]
    kind = wanted.cell_type
    index = _cell_ids(submission).get(wanted.get("id"))
    if index is not None and submission.cells[index].cell_type == kind:
        return submission.cells[index]
    teacher_cells = sorted(
        {e.cell for e in find_exercises(teacher) if teacher.cells[e.cell].cell_type == kind}
    )
    tagged = [
        c
        for c in submission.cells
        if c.cell_type == kind and EXERCISE_TAG in c.metadata.get("tags", [])
    ]
    if len(tagged) == len(teacher_cells):
        return tagged[teacher_cells.index(exercise.cell)]
    return None


def graded_notebook(teacher, submission):
    """The notebook the grader runs, and ``{exercise number: reason}`` for answers not found."""
    graded, missing = copy.deepcopy(teacher), {}
    exercises = find_exercises(teacher)
    cells = []
    for index, cell in enumerate(graded.cells):
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
            cell.metadata.setdefault("tags", []).append("raises-exception")  # keep going
        here = [ex for ex in exercises if ex.cell == index and ex.kind == "code"]
        checks = [ex for ex in exercises if ex.check == index and ex.kind == "code"]
        if here:
            answer = find_answer(submission, teacher, here[0])
            if answer is None:
                missing.update(
                    {
                        ex.number: "the exercise's cell is not in the submission (deleted?)"
                        for ex in here
                    }
                )
            else:
                cell.source = answer.source
            cell.metadata[GRADER_KEY] = {"exercise": here[0].number, "part": "answer"}
        if checks:
            cell.source = (
                "_xmlab_answer_ran = get_ipython().last_execution_succeeded\n" + cell.source
            )
            cell.metadata[GRADER_KEY] = {"exercise": checks[0].number, "part": "check"}
        cells.append(cell)
        if checks:
            source = teacher.cells[checks[0].cell].source
            restore = _RESTORE.format(number=checks[0].number, source=source)
            cells.append(_code_cell(restore, {"exercise": checks[0].number, "part": "restore"}))
    graded.cells = cells
    return graded, missing


def _code_cell(source: str, marker: dict):
    import nbformat

    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["tags"] = ["raises-exception"]
    cell.metadata[GRADER_KEY] = marker
    return cell


def _error_of(cell) -> str:
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error":
            value = (out.get("evalue") or "").strip().split("\n")[0]
            return f"{out.get('ename')}: {value}" if value else str(out.get("ename"))
    return ""


def _status(cell) -> str:
    return cell.metadata.get("papermill", {}).get("status", "pending")


def outcomes(executed, stopped: str) -> dict[int, tuple[int, str]]:
    """``{exercise: (passed, error)}`` read from an executed graded notebook. ``stopped`` says
    why the run ended early ("" when it ran to the end)."""
    parts: dict[int, dict] = {}
    for cell in executed.cells:
        marker = cell.metadata.get(GRADER_KEY)
        if marker and marker["part"] in ("answer", "check"):
            parts.setdefault(marker["exercise"], {})[marker["part"]] = cell
    result = {}
    for number, part in parts.items():
        answer, check = part.get("answer"), part.get("check")
        if answer is not None and _error_of(answer):
            result[number] = (0, _error_of(answer))
        elif check is None or _status(check) in ("pending", "running"):
            result[number] = (0, stopped or "the check cell did not run")
        elif _error_of(check):
            result[number] = (0, f"check failed: {_error_of(check)}")
        else:
            result[number] = (1, "")
    return result


def _where(executed, how: str) -> str:
    """``how`` the run stopped, and in which cell (for the exercises it did not reach)."""
    for cell in executed.cells:
        if _status(cell) == "running":
            marker = cell.metadata.get(GRADER_KEY)
            if marker:
                return f"{how} in exercise {marker['exercise']}'s {marker['part']} cell"
            first = cell.source.strip().split("\n")[0][:60]
            return f"{how} in the lesson cell that starts {first!r}"
    return how


def _helpers(teacher_dir: Path, workdir: Path) -> None:
    """Copy the teacher folder's helper files (not the lessons, not the student copies)."""
    for item in teacher_dir.iterdir():
        if item.name in (STUDENT_FOLDER, ".ipynb_checkpoints") or item.name.startswith("."):
            continue
        if item.is_dir():
            skip = shutil.ignore_patterns(".ipynb_checkpoints")
            shutil.copytree(item, workdir / item.name, ignore=skip)
        elif not (item.suffix == ".ipynb" and item.name[:2].isdigit()):
            shutil.copy2(item, workdir / item.name)


def _kill(pid: int) -> None:
    if pid <= 0:  # never 0 or -1: those would signal the grader's own group, or everything
        return
    try:
        if hasattr(os, "killpg"):
            os.killpg(pid, signal.SIGKILL)  # the process and everything it started
        else:
            os.kill(pid, signal.SIGTERM)
    except OSError:
        pass  # already gone


def _execute(source: Path, output: Path, cwd: Path, pid_file: Path, timeout: float) -> str:
    """Run papermill in a process of its own; return why it stopped early ("" if it did not)."""
    env = {k: v for k, v in os.environ.items() if k != "XMLAB_RECORD_FILE"}
    env["MPLBACKEND"] = "Agg"
    command = [sys.executable, "-c", _PAPERMILL, *map(str, (source, output, cwd, pid_file))]
    proc = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
    )
    try:
        _, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill(proc.pid)
        kernel = pid_file.read_text().strip() if pid_file.exists() else ""
        _kill(int(kernel) if kernel.isdigit() else 0)
        proc.communicate()
        return f"timed out after {timeout:g} s"
    if proc.returncode == 0:
        return ""
    last = stderr.decode(errors="replace").strip().splitlines() or ["papermill failed"]
    return f"the run stopped ({last[-1]})"


def run_graded(graded, teacher_dir: Path, *, timeout: float):
    """Execute ``graded`` in a fresh temporary working directory.

    Returns:
        The executed notebook (``None`` if nothing ran) and why the run stopped early ("" when
        it ran to the end).
    """
    import nbformat

    with tempfile.TemporaryDirectory(prefix="xmlab-grade-") as tmp:
        work, private = Path(tmp) / "work", Path(tmp) / "grader"
        work.mkdir(), private.mkdir()
        _helpers(teacher_dir, work)
        source, output = private / "graded.ipynb", private / "executed.ipynb"
        nbformat.write(graded, source)
        stopped = _execute(source, output, work, private / "kernel.pid", timeout)
        if not output.exists():
            return None, stopped or "the notebook did not run"
        executed = read_notebook(output)
        return executed, _where(executed, stopped) if stopped else ""
