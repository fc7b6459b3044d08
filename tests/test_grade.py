"""`xmlab grade`: the teacher's checks, not the student's, decide; bad submissions get a reason."""

import csv
import os
import time
from pathlib import Path

import nbformat
import pytest
from nbfiles import write_notebook

from xmlab.cli import main
from xmlab.course import grade as grading
from xmlab.course import student

LESSON = [  # (kind, source) of a small teacher notebook: three code exercises, one written
    ("markdown", "# 01 · Demo"),
    ("code", "base = 2"),
    ("markdown", "**1.** Double `base`."),
    ("code", "### BEGIN SOLUTION  hint: twice base\ndoubled = 2 * base\n### END SOLUTION"),
    ("code", "# check: doubled is twice base\nassert doubled == 2 * base"),
    (
        "code",
        "def square(x):\n    ### BEGIN SOLUTION  hint: x times x\n    return x * x\n"
        "    ### END SOLUTION",
    ),  # fmt: skip
    ("code", "# check: square squares\nassert square(3) == 9 and square(-2) == 4"),
    ("markdown", "Why square?\n### BEGIN SOLUTION  hint: why?\nBecause.\n### END SOLUTION"),
    ("code", "result = square(doubled)  # a lesson cell that needs exercises 1 and 2"),
    ("code", "### BEGIN SOLUTION  hint: one more\nplus_one = result + 1\n### END SOLUTION"),
    ("code", "# check: one more than the result\nassert plus_one == 17"),
]
OTHER = [("markdown", "# 02 · Other"), ("code", "### BEGIN SOLUTION\ny = 1\n### END SOLUTION"),
         ("code", "# check: y\nassert y == 1")]  # fmt: skip


@pytest.fixture()
def course(tmp_path):
    """Teacher notebooks, their student versions, and a way to hand in a changed copy."""
    teacher = tmp_path / "notebooks"
    write_notebook(teacher / "01_demo.ipynb", LESSON)
    write_notebook(teacher / "02_other.ipynb", OTHER)
    write_notebook(teacher / "experiments" / "helper.ipynb", [("code", "x = 1")])
    student.write_student_versions(teacher)
    handout = nbformat.read(teacher / "student" / "01_demo.ipynb", as_version=4)
    submissions = tmp_path / "submissions"

    def hand_in(name, edit=None, filename="01_demo.ipynb"):
        nb = nbformat.from_dict(handout)
        nb = nbformat.from_dict(nbformat.reads(nbformat.writes(nb), as_version=4))
        if edit:
            edit(nb)
        (submissions / name).mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, submissions / name / filename)
        return submissions / name / filename

    return teacher, submissions, hand_in


def _answer(nb, number, source):
    cells = [c for c in nb.cells if f"exercise {number}:" in c.source]
    cells[0].source = source


def _solve_all(nb):
    _answer(nb, 1, "doubled = base + base")
    if any("exercise 2:" in c.source for c in nb.cells):
        _answer(nb, 2, "def square(x):\n    return x**2")
    written = next(c for c in nb.cells if "*Your answer here.*" in c.source)
    written.source = written.source.replace("*Your answer here.*", "Squares grow fast.")
    _answer(nb, 4, "plus_one = result + 1")


def _rows(path):
    with open(path, newline="") as f:
        return {(r["student"], r["notebook"], r["exercise"]): r for r in csv.DictReader(f)}


def test_gradebook_for_a_class(course, tmp_path, capsys):
    teacher, submissions, hand_in = course
    hand_in("correct", _solve_all)
    hand_in("untouched")

    def tamper(nb):  # asserts removed, stubs left: the student's checks now pass
        for cell in nb.cells:
            if cell.source.startswith("# check:"):
                cell.source = "pass"

    hand_in("tampered", tamper)
    hand_in("partial", lambda nb: _answer(nb, 4, "plus_one = result + 1"))  # skipped 1 and 2

    def reorder_and_delete(nb):
        _solve_all(nb)
        nb.cells = [c for c in nb.cells if "return x**2" not in c.source]  # exercise 2 deleted
        nb.cells.reverse()

    hand_in("shuffled", reorder_and_delete)
    (submissions / "broken").mkdir()
    (submissions / "broken" / "01_demo.ipynb").write_text('{"cells": [', encoding="utf-8")
    hand_in("wrong_lesson", filename="01_demo.ipynb").write_text(
        (teacher / "student" / "02_other.ipynb").read_text(encoding="utf-8"), encoding="utf-8"
    )
    hand_in("renamed", filename="07_mine.ipynb")
    (submissions / "empty").mkdir()

    out = tmp_path / "gradebook.csv"
    code = main(["grade", str(submissions), "--teacher", str(teacher), "-o", str(out)])
    printed = capsys.readouterr().out
    assert code == 0
    rows = _rows(out)
    nb = "01_demo.ipynb"

    def passed(who):
        return [rows[who, nb, str(n)]["passed"] for n in (1, 2, 4)]

    assert passed("correct") == ["1", "1", "1"]
    assert rows["correct", "all", "total"]["passed"] == "3"
    assert (
        rows["correct", nb, "3"]["passed"] == "" and "by hand" in rows["correct", nb, "3"]["error"]
    )
    assert passed("untouched") == ["0", "0", "0"]
    for n in (1, 2, 4):
        assert "NotImplementedError: exercise" in rows["untouched", nb, str(n)]["error"] or (
            "check failed: NotImplementedError" in rows["untouched", nb, str(n)]["error"]
        )
    assert rows["untouched", nb, "3"]["error"] == "not answered"
    assert passed("tampered") == ["0", "0", "0"]  # the teacher's checks ran, not theirs
    assert passed("partial") == ["0", "0", "1"]  # the model answers of 1 and 2 stood in
    assert passed("shuffled") == ["1", "0", "1"]
    assert "not in the submission" in rows["shuffled", nb, "2"]["error"]
    assert passed("broken") == ["0", "0", "0"]
    assert "not a notebook Jupyter can open" in rows["broken", nb, "1"]["error"]
    assert "holds lesson 02_other.ipynb" in rows["wrong_lesson", nb, "1"]["error"]
    assert "no lesson of that name" in rows["renamed", "07_mine.ipynb", ""]["error"]
    assert "no notebook" in rows["empty", "", ""]["error"]
    assert "| correct | 3/3 | - | 3/3 |" in printed and "| untouched | 0/3 | - | 0/3 |" in printed
    assert "| broken | 0/3 | - | 0/3 |" in printed and "empty/: no notebook" in printed


def test_an_endless_loop_is_stopped_and_the_kernel_killed(course, tmp_path):
    teacher, submissions, hand_in = course
    pid_file = tmp_path / "kernel.pid"
    loop = f"import os\nopen({str(pid_file)!r}, 'w').write(str(os.getpid()))\nwhile True:\n    pass"
    hand_in("looping", lambda nb: (_answer(nb, 2, loop), _solve_all(nb)))
    start = time.perf_counter()
    rows = grading.grade(submissions, teacher, out=None, timeout=40, log=lambda line: None)
    assert time.perf_counter() - start < 120
    by_exercise = {r.exercise: r for r in rows if r.notebook == "01_demo.ipynb"}
    assert by_exercise[1].passed == 1  # done before the loop
    assert by_exercise[2].passed == 0 and "timed out after 40 s" in by_exercise[2].error
    assert "exercise 2's answer cell" in by_exercise[2].error
    assert by_exercise[4].passed == 0 and "timed out" in by_exercise[4].error
    kernel = int(pid_file.read_text())
    for _ in range(50):  # the kernel is killed with its process group
        if not _alive(kernel):
            break
        time.sleep(0.2)
    assert not _alive(kernel)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status")
    return not (status.exists() and "\nState:\tZ" in status.read_text())  # a zombie is dead


def test_bad_folders_are_explained(tmp_path, capsys):
    assert main(["grade", str(tmp_path / "nowhere"), "--teacher", str(tmp_path)]) == 2
    assert "no folder of submissions" in capsys.readouterr().err
    (tmp_path / "subs" / "alice").mkdir(parents=True)
    assert main(["grade", str(tmp_path / "subs"), "--teacher", str(tmp_path)]) == 2
    assert "holds no lessons" in capsys.readouterr().err
