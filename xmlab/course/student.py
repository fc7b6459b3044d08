"""Student versions of the notebooks: every solution becomes a stub that says what to write.

Teacher notebooks keep each exercise's solution between two marker lines::

    ### BEGIN SOLUTION  hint: average the two cross-entropies
    loss = (loss_i + loss_t) / 2
    ### END SOLUTION

``xmlab student`` writes a copy of the notebooks in which every such block is replaced by a stub
that raises ``NotImplementedError`` with the hint (text after ``BEGIN SOLUTION``, optional),
indented like the block. Check cells stay as they are, so a student's notebook runs up to the
first exercise, stops there with the hint, and passes its checks once the exercise is done. In a
markdown cell the block becomes "*Your answer here.*" (for written answers). Outputs are cleared,
and the notebook's Colab and Binder links point at the student copy.

The copies go to ``notebooks/student/`` by default, the folder the course hands out; they are
written to a temporary folder first and moved into place only when every notebook converted.

Explained in: docs/teaching.md
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import nbformat


BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
DEFAULT_HINT = "write your solution here, then run the check cell below it"
EXERCISE_TAG = "exercise"  # added to the tags of every cell that held a solution
STUDENT_FOLDER = "student"  # inside the teacher folder: notebooks/student/
_HINT_PREFIX = re.compile(r"^[\s:\-–—]*(hint\s*:)?\s*", re.IGNORECASE)


@dataclass
class Exercise:
    """One solution block that the student version replaces."""

    notebook: str  # path of the notebook, relative to the folder that was converted
    cell: int  # index of the cell in the notebook
    number: int  # 1, 2, ... within the notebook
    hint: str  # what the stub tells the student (for a written answer: the question)
    kind: str = "code"  # "code", or "written" for an answer in a markdown cell
    solution: str = ""  # the lines between the markers
    check: int | None = None  # index of the code cell that checks a code exercise


def _literal(text: str) -> str:
    """``text`` as a Python string literal in the quotes ruff's formatter prefers."""
    if '"' in text and "'" not in text:
        return repr(text)
    return json.dumps(text, ensure_ascii=False)  # JSON escapes are valid Python escapes


def _stub(indent: str, number: int, hint: str, kind: str) -> list[str]:
    if kind == "markdown":
        return [f"{indent}*Your answer here.*"]
    message = _literal(f"exercise {number}: {hint}")
    return [f"{indent}# YOUR CODE HERE", f"{indent}raise NotImplementedError({message})"]


def _blocks(source: str, where: str):
    """Walk ``source`` line by line: yield ``("line", text)`` outside solutions, and
    ``("block", indent, hint, body)`` for each solution block, in order."""
    open_at, body = None, []
    for lineno, line in enumerate(source.split("\n"), start=1):
        text = line.strip()
        if text.startswith(BEGIN):
            if open_at is not None:
                raise ValueError(
                    f"{where}: line {lineno} opens a solution inside the one opened "
                    f"on line {open_at}: close it with {END!r} first"
                )
            open_at, indent, body = lineno, line[: len(line) - len(line.lstrip())], []
            hint = _HINT_PREFIX.sub("", text[len(BEGIN) :]).strip() or DEFAULT_HINT
        elif text.startswith(END):
            if open_at is None:
                raise ValueError(
                    f"{where}: line {lineno} has {END!r} without a {BEGIN!r} before it"
                )
            open_at = None
            yield "block", indent, hint, "\n".join(body)
        elif open_at is None:
            yield "line", line
        else:
            body.append(line)
    if open_at is not None:
        raise ValueError(
            f"{where}: the solution opened on line {open_at} is never closed: "
            f"add a line {END!r} after it"
        )


def strip_solutions(
    source: str, *, first_number: int = 1, kind: str = "code", where: str = "this cell"
) -> tuple[str, list[str]]:
    """Replace each solution block of one cell's source by a stub.

    Args:
        source: the cell's text.
        first_number: the exercise number given to the first block of this cell.
        kind: ``"code"`` (stub raises ``NotImplementedError``) or ``"markdown"``.
        where: names the cell in error messages, e.g. ``"03_joint.ipynb cell 12"``.

    Returns:
        The new source and the hint of every block replaced, in order.

    Raises:
        ValueError: for a block that is never closed, an END without a BEGIN, or nested blocks.
    """
    out, hints = [], []
    for event in _blocks(source, where):
        if event[0] == "line":
            out.append(event[1])
        else:
            hints.append(event[2])
            out += _stub(event[1], first_number + len(hints) - 1, event[2], kind)
    return "\n".join(out), hints


def find_exercises(nb: nbformat.NotebookNode, name: str = "notebook") -> list[Exercise]:
    """Every solution block of ``nb``, numbered as the student version numbers them.

    A code exercise is checked by the next code cell after it (its *check cell*); ``check`` is
    ``None`` when no such cell follows, or when the next code cell is itself an exercise.
    """
    found: list[Exercise] = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type not in ("code", "markdown") or BEGIN not in cell.source:
            continue
        kind = "code" if cell.cell_type == "code" else "written"
        check = _next_code_cell(nb, index) if kind == "code" else None
        blocks = [e for e in _blocks(cell.source, f"{name} cell {index}") if e[0] == "block"]
        for _, _, hint, body in blocks:
            found.append(Exercise(name, index, len(found) + 1, hint, kind, body, check))
    return found


def _next_code_cell(nb, index: int) -> int | None:
    later = [j for j in range(index + 1, len(nb.cells)) if nb.cells[j].cell_type == "code"]
    if not later or BEGIN in nb.cells[later[0]].source:
        return None
    return later[0]


def student_notebook(nb: nbformat.NotebookNode, name: str = "notebook") -> list[Exercise]:
    """Turn ``nb`` into its student version in place; return the exercises it holds."""
    exercises = find_exercises(nb, name)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    for index in sorted({ex.cell for ex in exercises}):
        cell = nb.cells[index]
        first = next(ex.number for ex in exercises if ex.cell == index)
        cell.source, _ = strip_solutions(
            cell.source, first_number=first, kind=cell.cell_type, where=f"{name} cell {index}"
        )
        tags = cell.metadata.setdefault("tags", [])
        if EXERCISE_TAG not in tags:
            tags.append(EXERCISE_TAG)
    return exercises


def point_links_at(nb: nbformat.NotebookNode, teacher: str, student: str) -> None:
    """Make the notebook's Colab / Binder links open ``student`` instead of ``teacher``
    (both paths relative to the repository, e.g. ``notebooks/00_welcome.ipynb``)."""
    for cell in nb.cells:
        if cell.cell_type == "markdown" and teacher in cell.source:
            cell.source = re.sub(rf"(?<=/){re.escape(teacher)}\b", student, cell.source)


def find_all_notebooks(folder: Path, *, skip: tuple[Path, ...] = ()) -> list[Path]:
    """Every ``.ipynb`` under ``folder`` (course notebooks and their helpers), checkpoints and
    anything under the folders of ``skip`` aside."""
    skip = tuple(Path(s).resolve() for s in skip)
    return sorted(
        p
        for p in Path(folder).rglob("*.ipynb")
        if ".ipynb_checkpoints" not in p.parts and not any(s in p.resolve().parents for s in skip)
    )


def _check_folders(src: Path, out: Path) -> None:
    if not src.is_dir():
        raise FileNotFoundError(f"no notebook folder at {src.resolve()}: pass --notebooks FOLDER")
    src_r, out_r = src.resolve(), out.resolve()
    if out_r == src_r:
        raise ValueError(
            f"the student versions would overwrite the teacher notebooks in {src}: "
            f"choose another folder, e.g. --out {src / STUDENT_FOLDER}"
        )
    if out_r in src_r.parents:
        raise ValueError(f"{out} holds the teacher notebooks {src}: choose another --out folder")


def read_notebook(path: Path) -> nbformat.NotebookNode:
    """Read a notebook, or say in one line which file is broken and how (no schema traceback)."""
    import nbformat  # slow to import: only when notebooks are read

    try:
        return nbformat.read(path, as_version=4)
    except (OSError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: cannot be read ({err})") from None
    except Exception as err:  # invalid JSON, or JSON that is not a notebook
        text = str(err).strip()
        if "does not appear to be JSON" in text:
            reason = "it is not valid JSON: cut short, or edited outside Jupyter?"
        else:
            reason = text.splitlines()[0] if text else type(err).__name__
        raise ValueError(
            f"{path} is not a notebook Jupyter can open ({reason}): restore it from version "
            "control or save it again from Jupyter"
        ) from None


def _student_path(src: Path, out: Path, relative: Path) -> str | None:
    """Where the student copy of ``src/relative`` sits, relative to ``src``'s parent, when the
    student folder is inside the teacher folder (the repository layout); else ``None``."""
    src_r, out_r = src.resolve(), out.resolve()
    if src_r not in out_r.parents:
        return None
    return (Path(src_r.name) / out_r.relative_to(src_r) / relative).as_posix()


def write_student_versions(
    src: str | os.PathLike = "notebooks", out: str | os.PathLike | None = None
) -> list[Exercise]:
    """Write the student version of every notebook under ``src`` to the same place under ``out``
    (default ``src/student``).

    Notebooks without exercises (helpers such as experiment notebooks) are copied with their
    outputs cleared, so relative paths between notebooks keep working in the student folder.
    Everything is written to a temporary folder beside ``out`` first: a notebook that cannot be
    converted leaves ``out`` as it was.

    Returns:
        Every exercise replaced, notebook by notebook.
    """
    import nbformat

    src = Path(src)
    out = Path(out) if out is not None else src / STUDENT_FOLDER
    _check_folders(src, out)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        exercises = []
        for path in find_all_notebooks(src, skip=(out, src / STUDENT_FOLDER)):
            relative = path.relative_to(src)
            nb = read_notebook(path)
            exercises += student_notebook(nb, relative.as_posix())
            student_path = _student_path(src, out, relative)
            if student_path:
                point_links_at(nb, f"{src.resolve().name}/{relative.as_posix()}", student_path)
            (staging / relative).parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, staging / relative)
        _replace_folder(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return exercises


def _replace_folder(new: Path, out: Path) -> None:
    """Put ``new`` where ``out`` is, keeping the old ``out`` until the move succeeded."""
    old = out.parent / f".{out.name}-old-{os.getpid()}"
    if out.exists():
        os.replace(out, old)
    try:
        os.replace(new, out)
    except OSError:
        if old.exists():
            os.replace(old, out)
        raise
    shutil.rmtree(old, ignore_errors=True)
