"""The course's exercises as instructors see them: the generated exercise table and answer key,
and the proof that every check cell fails on the student's stub.

Each code exercise of a teacher notebook is a solution block (``xmlab.course.student``) followed
by a *check cell*, whose first line says what it checks::

    # check: the loss equals xm.losses.clip_loss on random embeddings
    torch.testing.assert_close(...)

:func:`exercise_table` and :func:`answer_key` turn the notebooks into the markdown of the
instructor guide (``docs/teaching.md``, between the ``GENERATED`` comments), so the guide lists
every exercise the notebooks hold. :func:`check_fails_on_stub` runs, inside a notebook's kernel,
the student's stub and then the check: the test suite calls it before every exercise (see
``xmlab/course/pytest_exercises.py``), so a check that would pass on values left by earlier cells
fails the suite.

Explained in: docs/teaching.md
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from xmlab.course.student import Exercise, find_exercises, read_notebook, strip_solutions

CHECK_PREFIX = re.compile(r"^#\s*check:\s*", re.IGNORECASE)
BEGIN_MARK, END_MARK = "<!-- GENERATED: exercises -->", "<!-- END GENERATED: exercises -->"


def course_exercises(folder: str | os.PathLike = "notebooks") -> dict[str, tuple]:
    """``{notebook name: (notebook, exercises)}`` for the course notebooks ``NN_*.ipynb``."""
    out = {}
    for path in sorted(Path(folder).glob("[0-9][0-9]_*.ipynb")):
        nb = read_notebook(path)
        out[path.name] = (nb, find_exercises(nb, path.name))
    return out


def check_summary(nb, exercise: Exercise) -> str:
    """What a code exercise's check cell checks: its ``# check:`` line, without the prefix."""
    if exercise.check is None:
        return ""
    first = nb.cells[exercise.check].source.strip().split("\n")[0]
    return CHECK_PREFIX.sub("", first).strip() if CHECK_PREFIX.match(first) else ""


def _cell(text: str) -> str:
    """Text for one cell of a markdown table: one line, pipes escaped."""
    return " ".join(text.split()).replace("|", "\\|")


def exercise_table(course: dict[str, tuple]) -> str:
    """The markdown table of every exercise: notebook, number, kind, task, what checks it."""
    lines = ["| notebook | # | kind | the task | checked by |", "|---|---|---|---|---|"]
    for name, (nb, exercises) in course.items():
        for i, ex in enumerate(exercises):
            shown = name.removesuffix(".ipynb").replace("_", " ") if i == 0 else ""
            checked = check_summary(nb, ex) if ex.kind == "code" else "model answer below"
            lines.append(
                f"| {shown} | {ex.number} | {ex.kind} | {_cell(ex.hint)} | {_cell(checked)} |"
            )
    return "\n".join(lines)


def answer_key(course: dict[str, tuple]) -> str:
    """Model answers of the written questions, notebook by notebook."""
    parts = []
    for name, (_, exercises) in course.items():
        for ex in (e for e in exercises if e.kind == "written"):
            answer = "\n".join(f"> {line}" if line else ">" for line in ex.solution.split("\n"))
            parts.append(
                f"**{name.removesuffix('.ipynb')}, exercise {ex.number}.** {ex.hint}\n\n{answer}"
            )
    return "\n\n".join(parts)


def generated_section(folder: str | os.PathLike = "notebooks") -> str:
    """The part of the instructor guide made from the notebooks (between the markers)."""
    course = course_exercises(folder)
    count = sum(len(exercises) for _, exercises in course.values())
    return "\n\n".join(
        [
            BEGIN_MARK,
            f"The notebooks hold {count} exercises. Code exercises end in a check cell that passes"
            " with the solution and fails with the student's stub (the test suite proves both);"
            " written ones have a model answer in the answer key below.",
            exercise_table(course),
            "### Answer key (written questions)",
            answer_key(course),
            END_MARK,
        ]
    )


def sync_guide(guide: str | os.PathLike, folder: str | os.PathLike = "notebooks") -> bool:
    """Rewrite the generated section of ``guide`` from ``folder``; return whether it changed."""
    guide = Path(guide)
    text = guide.read_text(encoding="utf-8")
    if BEGIN_MARK not in text or END_MARK not in text:
        raise ValueError(f"{guide} has no {BEGIN_MARK} ... {END_MARK} section to fill in")
    head, rest = text.split(BEGIN_MARK, 1)
    new = head + generated_section(folder) + rest.split(END_MARK, 1)[1]
    guide.write_text(new, encoding="utf-8")
    return new != text


def stub_source(nb, exercise: Exercise) -> str:
    """The student's version of the cell that holds ``exercise``."""
    cell = nb.cells[exercise.cell]
    first = min(e.number for e in find_exercises(nb) if e.cell == exercise.cell)
    return strip_solutions(cell.source, first_number=first, kind=cell.cell_type)[0]


def _run(shell, source: str, where: str) -> BaseException | None:
    """Run ``source`` in the kernel's namespace; return the exception it raised, if any."""
    try:
        exec(compile(shell.transform_cell(source), where, "exec"), shell.user_ns)
    except Exception as err:
        return err
    return None


def check_fails_on_stub(shell, stub: str, check: str, *, number: int) -> str:
    """Inside a kernel: run the student's ``stub``, then the ``check``; the check must fail.

    Args:
        shell: the kernel's IPython shell (``get_ipython()``).
        stub: the exercise cell as the student gets it.
        check: the check cell of the teacher notebook.
        number: the exercise number, for the message.

    Returns:
        How the check failed, e.g. ``"NameError: name 'bag_r1' is not defined"``.

    Raises:
        AssertionError: when the check passes although the solution is a stub.
    """
    stub_error = _run(shell, stub, f"<exercise {number}, student stub>")
    check_error = _run(shell, check, f"<exercise {number}, check>")
    if check_error is None:
        raise AssertionError(
            f"exercise {number}: its check cell passed with the student's stub (the stub "
            f"raised {stub_error!r}): the check must test the answer itself, not values that "
            "earlier cells left behind"
        )
    return f"{type(check_error).__name__}: {check_error}"
