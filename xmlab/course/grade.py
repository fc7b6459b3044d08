"""Grade students' notebooks with the teacher's checks: ``xmlab grade``.

A submission folder holds one folder per student (``alice/03_joint_learning.ipynb``, ...). For
each submitted notebook the grader builds the notebook it runs from the **teacher's** copy of
the lesson: every lesson cell and every check cell come from the teacher, and only the cells
that hold an exercise come from the student (found by the cell id the student version keeps,
else by the ``exercise`` tag, in order). Deleting or editing an ``assert`` in a submission
therefore changes nothing, and neither does editing a lesson cell. After each check, a cell of
the grader runs the model answer when the student's answer or the check failed, so one exercise
left undone costs that exercise only.

Each notebook runs with papermill in its own temporary working directory (with a copy of the
teacher folder's helper files, such as ``experiments/``), in a process that is killed with its
kernel when the notebook exceeds ``timeout`` seconds. The student's code runs with the grader's
permissions: grade in a container or an account that holds nothing else.

The gradebook has one row per student, notebook and exercise (``passed`` is 1 or 0, ``error``
says why not; written answers are left for the instructor), and one ``total`` row per student.

Explained in: docs/teaching.md
"""

from __future__ import annotations

import csv
import os
from dataclasses import astuple, dataclass, fields
from pathlib import Path

from xmlab.course.graded_run import (
    find_answer,
    graded_notebook,
    lesson_overlap,
    outcomes,
    run_graded,
)
from xmlab.course.student import find_exercises, read_notebook

COLUMNS = ("student", "notebook", "exercise", "passed", "error")
WRITTEN = "written answer: grade it by hand"


@dataclass
class Row:
    """One line of the gradebook."""

    student: str
    notebook: str
    exercise: int | str  # the exercise number, or "total"
    passed: int | str  # 1 or 0; the number passed in a total row; "" for a written answer
    error: str = ""  # why it did not pass (or, in a total row, out of how many)


def grade_notebook(path: Path, teachers: dict, teacher_dir: Path, *, timeout: float) -> list[Row]:
    """The rows of one submitted notebook (``student`` left empty)."""
    name = path.name
    if name not in teachers:
        known = ", ".join(teachers)
        return [Row("", name, "", "", f"no lesson of that name in the teacher notebooks ({known})")]
    teacher = teachers[name]
    exercises = find_exercises(teacher, name)

    def every(reason):  # the same reason for every exercise (written ones stay ungraded)
        return [
            Row("", name, ex.number, 0 if ex.kind == "code" else "", reason) for ex in exercises
        ]

    try:
        submission = read_notebook(path)
    except ValueError as err:
        return every("the file" + str(err).removeprefix(str(path)))
    if lesson_overlap(submission, teacher) < 0.5:
        other = max(teachers, key=lambda n: lesson_overlap(submission, teachers[n]))
        if other != name and lesson_overlap(submission, teachers[other]) >= 0.5:
            return every(f"this file holds lesson {other}, not {name}")
        return every(f"this file does not hold lesson {name}: most of its cells are missing")
    graded, missing = graded_notebook(teacher, submission)
    executed, stopped = run_graded(graded, teacher_dir, timeout=timeout)
    found = outcomes(executed, stopped) if executed is not None else {}
    rows = []
    for ex in exercises:
        if ex.kind == "written":
            answer = find_answer(submission, teacher, ex)
            unanswered = answer is None or "*Your answer here.*" in answer.source
            rows.append(Row("", name, ex.number, "", "not answered" if unanswered else WRITTEN))
        elif ex.number in missing:
            rows.append(Row("", name, ex.number, 0, missing[ex.number]))
        else:
            rows.append(Row("", name, ex.number, *found.get(ex.number, (0, stopped or "not run"))))
    return rows


def total_rows(rows: list[Row]) -> list[Row]:
    """One ``total`` row per student: exercises passed, out of those graded automatically."""
    totals: dict[str, list[int]] = {}
    for row in rows:
        if row.passed != "":
            done = totals.setdefault(row.student, [0, 0])
            done[0] += int(row.passed)
            done[1] += 1
    return [
        Row(s, "all", "total", p, f"{p} of {n} exercises passed") for s, (p, n) in totals.items()
    ]


def summary_table(rows: list[Row]) -> str:
    """A markdown table: one line per student, passed / graded per notebook and in total."""
    notebooks = sorted({r.notebook for r in rows if r.exercise != "total" and r.notebook})
    lines = [
        "| student | " + " | ".join(notebooks) + " | total |",
        "|---" * (len(notebooks) + 2) + "|",
    ]
    for student in sorted({r.student for r in rows}):
        cells = []
        for nb in [*notebooks, "all"]:
            mine = [
                r for r in rows if r.student == student and r.passed != "" and r.exercise != "total"
            ]
            mine = [r for r in mine if nb == "all" or r.notebook == nb]
            cells.append(f"{sum(int(r.passed) for r in mine)}/{len(mine)}" if mine else "-")
        lines.append(f"| {student} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_gradebook(rows: list[Row], path: str | os.PathLike) -> None:
    """Write the rows to a CSV file with the columns of :data:`COLUMNS`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow([f.name for f in fields(Row)])
        writer.writerows(astuple(r) for r in rows)


def grade(
    submissions: str | os.PathLike,
    teacher: str | os.PathLike = "notebooks",
    *,
    out: str | os.PathLike | None = "gradebook.csv",
    timeout: float = 600,
    log=print,
) -> list[Row]:
    """Grade every student folder of ``submissions`` against the lessons in ``teacher``.

    Args:
        submissions: a folder with one folder per student, each holding notebooks.
        teacher: the teacher notebooks (with solutions and check cells).
        out: the CSV gradebook to write (``None``: write nothing).
        timeout: seconds one notebook may run before it is stopped.
        log: called with a line of progress per notebook.

    Returns:
        Every row, the students' total rows last.
    """
    if not timeout > 0:
        raise ValueError(f"the timeout must be a positive number of seconds, got {timeout}")
    submissions, teacher = Path(submissions), Path(teacher)
    for folder, what in ((submissions, "submissions"), (teacher, "teacher notebooks")):
        if not folder.is_dir():
            raise FileNotFoundError(f"no folder of {what} at {folder.resolve()}")
    teachers = {p.name: read_notebook(p) for p in sorted(teacher.glob("[0-9][0-9]_*.ipynb"))}
    if not teachers:
        raise FileNotFoundError(f"{teacher} holds no lessons named like 03_joint_learning.ipynb")
    students = sorted(p for p in submissions.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not students:
        raise FileNotFoundError(f"{submissions} holds no student folders (alice/03_x.ipynb, ...)")
    rows = []
    for student in students:
        notebooks = sorted(student.glob("*.ipynb"))
        if not notebooks:
            rows.append(Row(student.name, "", "", "", "no notebook (.ipynb) in this folder"))
        for path in notebooks:
            log(f"grading {student.name}/{path.name} ...")
            for row in grade_notebook(path, teachers, teacher, timeout=timeout):
                row.student = student.name
                rows.append(row)
    rows += total_rows(rows)
    if out is not None:
        write_gradebook(rows, out)
    return rows
