"""Student versions of the notebooks: every solution becomes a stub that says what to write.

Teacher notebooks keep each exercise's solution between two marker lines::

    ### BEGIN SOLUTION  hint: average the two cross-entropies
    loss = (loss_i + loss_t) / 2
    ### END SOLUTION

``xmlab student`` writes a copy of the notebooks in which every such block is replaced by a stub
that raises ``NotImplementedError`` with the hint (text after ``BEGIN SOLUTION``, optional),
indented like the block. Check cells stay as they are, so a student's notebook runs up to the
first exercise, stops there with the hint, and passes its checks once the exercise is done. In a
markdown cell the block becomes "*Your answer here.*" (for written answers). Outputs are cleared.

Explained in: docs/teaching.md
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import nbformat


BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
DEFAULT_HINT = "write your solution here, then run the check cell below it"
EXERCISE_TAG = "exercise"  # added to the tags of every cell that held a solution
_HINT_PREFIX = re.compile(r"^[\s:\-–—]*(hint\s*:)?\s*", re.IGNORECASE)


@dataclass
class Exercise:
    """One solution block that the student version replaced."""

    notebook: str  # path of the notebook, relative to the folder that was converted
    cell: int  # index of the cell in the notebook
    number: int  # 1, 2, ... within the notebook
    hint: str  # what the stub tells the student


def _stub(indent: str, number: int, hint: str, kind: str) -> list[str]:
    if kind == "markdown":
        return [f"{indent}*Your answer here.*"]
    message = f"exercise {number}: {hint}"
    return [f"{indent}# YOUR CODE HERE", f"{indent}raise NotImplementedError({message!r})"]


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
    out, hints, open_at = [], [], None
    for lineno, line in enumerate(source.split("\n"), start=1):
        text = line.strip()
        if text.startswith(BEGIN):
            if open_at is not None:
                raise ValueError(
                    f"{where}: line {lineno} opens a solution inside the one opened "
                    f"on line {open_at}: close it with {END!r} first"
                )
            open_at, indent = lineno, line[: len(line) - len(line.lstrip())]
            hint = _HINT_PREFIX.sub("", text[len(BEGIN) :]).strip() or DEFAULT_HINT
            hints.append(hint)
            out += _stub(indent, first_number + len(hints) - 1, hint, kind)
        elif text.startswith(END):
            if open_at is None:
                raise ValueError(
                    f"{where}: line {lineno} has {END!r} without a {BEGIN!r} before it"
                )
            open_at = None
        elif open_at is None:
            out.append(line)
    if open_at is not None:
        raise ValueError(
            f"{where}: the solution opened on line {open_at} is never closed: "
            f"add a line {END!r} after it"
        )
    return "\n".join(out), hints


def student_notebook(nb: nbformat.NotebookNode, name: str = "notebook") -> list[Exercise]:
    """Turn ``nb`` into its student version in place; return the exercises it holds."""
    exercises: list[Exercise] = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        if cell.cell_type not in ("code", "markdown") or BEGIN not in cell.source:
            continue
        cell.source, hints = strip_solutions(
            cell.source,
            first_number=len(exercises) + 1,
            kind=cell.cell_type,
            where=f"{name} cell {index}",
        )
        tags = cell.metadata.setdefault("tags", [])
        if EXERCISE_TAG not in tags:
            tags.append(EXERCISE_TAG)
        exercises += [Exercise(name, index, len(exercises) + 1 + i, h) for i, h in enumerate(hints)]
    return exercises


def find_all_notebooks(folder: Path) -> list[Path]:
    """Every ``.ipynb`` under ``folder`` (course notebooks and their helpers), checkpoints aside."""
    return sorted(p for p in folder.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)


def _check_folders(src: Path, out: Path) -> None:
    if not src.is_dir():
        raise FileNotFoundError(f"no notebook folder at {src.resolve()}: pass --notebooks FOLDER")
    src_r, out_r = src.resolve(), out.resolve()
    if out_r == src_r or src_r in out_r.parents:
        raise ValueError(
            f"the student versions would land inside the teacher notebooks ({out} is in {src}): "
            "choose a folder outside it, e.g. --out student"
        )
    if out_r in src_r.parents:
        raise ValueError(f"{out} holds the teacher notebooks {src}: choose another --out folder")


def write_student_versions(
    src: str | os.PathLike = "notebooks", out: str | os.PathLike = "student"
) -> list[Exercise]:
    """Write the student version of every notebook under ``src`` to the same place under ``out``.

    Notebooks without exercises (helpers such as experiment notebooks) are copied with their
    outputs cleared, so relative paths between notebooks keep working in the student folder.

    Returns:
        Every exercise replaced, notebook by notebook.
    """
    import nbformat  # slow to import: only when notebooks are read

    src, out = Path(src), Path(out)
    _check_folders(src, out)
    exercises: list[Exercise] = []
    for path in find_all_notebooks(src):
        relative = path.relative_to(src)
        nb = nbformat.read(path, as_version=4)
        exercises += student_notebook(nb, relative.as_posix())
        (out / relative).parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, out / relative)
    return exercises
