"""Every exercise of every notebook is checked, listed in the guide, and handed out up to date.

The proof that each check fails on the student's stub and passes with the solution runs while
nbval executes the notebooks (``xmlab/course/pytest_exercises.py``, loaded by ``conftest.py``);
the last tests here show that the proof catches a check that passes on leftovers.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from xmlab.course import exercises, student

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
COURSE = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
GUIDE = ROOT / "docs" / "teaching.md"
REGENERATE = "run `xmlab student --guide docs/teaching.md` and commit the result"


@pytest.mark.parametrize("path", COURSE, ids=[p.name for p in COURSE])
def test_every_code_exercise_has_a_check_cell_and_a_task(path):
    nb = nbformat.read(path, as_version=4)
    found = student.find_exercises(nb, path.name)
    assert any(ex.kind == "code" for ex in found), f"{path.name} has no code exercise"
    for ex in found:
        assert ex.hint != student.DEFAULT_HINT, f"exercise {ex.number}: say the task in a hint"
        if ex.kind == "written":
            assert ex.solution.strip(), f"exercise {ex.number}: a written question needs an answer"
            continue
        assert ex.check is not None, f"exercise {ex.number} is not followed by a check cell"
        check = nb.cells[ex.check].source
        assert exercises.check_summary(nb, ex), (
            f"exercise {ex.number}: its check cell must start with '# check: what it checks'"
        )
        assert "assert" in check, f"exercise {ex.number}: its check cell asserts nothing"


def test_student_notebooks_are_the_teacher_notebooks_with_stubs(tmp_path):
    teacher = tmp_path / "notebooks"  # a copy of the teacher notebooks, written the same way
    shutil.copytree(NOTEBOOKS, teacher, ignore=shutil.ignore_patterns("student", ".ipynb_*"))
    student.write_student_versions(teacher)
    fresh = teacher / student.STUDENT_FOLDER
    made = sorted(p.relative_to(fresh) for p in fresh.rglob("*.ipynb"))
    committed = NOTEBOOKS / student.STUDENT_FOLDER
    kept = sorted(p.relative_to(committed) for p in committed.rglob("*.ipynb"))
    assert kept == made, f"notebooks/student/ lists other notebooks: {REGENERATE}"
    for relative in made:
        new = nbformat.read(fresh / relative, as_version=4)
        old = nbformat.read(committed / relative, as_version=4)
        same = [(c.get("id"), c.cell_type, c.source) for c in old.cells] == [
            (c.get("id"), c.cell_type, c.source) for c in new.cells
        ]
        assert same, f"{relative} is stale: {REGENERATE}"
        assert all(c.get("outputs", []) == [] for c in old.cells), f"{relative} has outputs"


def test_student_notebooks_open_their_own_links():
    for path in sorted((NOTEBOOKS / student.STUDENT_FOLDER).glob("[0-9][0-9]_*.ipynb")):
        first = nbformat.read(path, as_version=4).cells[0].source
        assert f"notebooks/student/{path.name}" in first, path.name
        assert f"notebooks/{path.name}" not in first, path.name


def test_the_guide_lists_every_exercise_and_answer():
    section = exercises.generated_section(NOTEBOOKS)
    assert section in GUIDE.read_text(encoding="utf-8"), f"docs/teaching.md is stale: {REGENERATE}"
    count = sum(len(student.find_exercises(nbformat.read(p, 4))) for p in COURSE)
    assert section.count("\n| ") - 1 == count  # one row per exercise below the header


def test_sync_guide_rewrites_only_its_section(tmp_path):
    nb = tmp_path / "notebooks"
    nb.mkdir()
    book = nbformat.v4.new_notebook()
    book.cells = [
        nbformat.v4.new_code_cell("### BEGIN SOLUTION  hint: set x to 1\nx = 1\n### END SOLUTION"),
        nbformat.v4.new_code_cell("# check: x is one\nassert x == 1"),
        nbformat.v4.new_markdown_cell(
            "### BEGIN SOLUTION  hint: why one?\nIt is.\n### END SOLUTION"
        ),
    ]
    nbformat.write(book, nb / "01_a.ipynb")
    guide = tmp_path / "guide.md"
    guide.write_text(f"intro\n{exercises.BEGIN_MARK}\nold\n{exercises.END_MARK}\noutro\n")
    assert exercises.sync_guide(guide, nb) and not exercises.sync_guide(guide, nb)
    text = guide.read_text()
    assert text.startswith("intro\n") and text.endswith("outro\n") and "\nold\n" not in text
    assert "| 01 a | 1 | code | set x to 1 | x is one |" in text
    assert "**01_a, exercise 2.** why one?\n\n> It is." in text
    guide.write_text("no section")
    with pytest.raises(ValueError, match="no <!-- GENERATED"):
        exercises.sync_guide(guide, nb)


class Shell:
    """The two things check_fails_on_stub needs from IPython: a namespace, a cell transformer."""

    def __init__(self, **names):
        self.user_ns = dict(names)

    def transform_cell(self, source):
        return source


def test_a_check_that_tests_the_answer_fails_on_the_stub():
    stub, _ = student.strip_solutions("### BEGIN SOLUTION\ntotal = 6\n### END SOLUTION")
    how = exercises.check_fails_on_stub(Shell(), stub, "assert total == 6", number=1)
    assert how.startswith("NameError")


def test_a_check_that_passes_on_leftovers_is_caught():
    stub, _ = student.strip_solutions("### BEGIN SOLUTION\ntotal = 6\n### END SOLUTION")
    with pytest.raises(AssertionError, match="exercise 3: its check cell passed"):
        exercises.check_fails_on_stub(Shell(total=6), stub, "assert total == 6", number=3)


def test_the_plugin_proves_each_exercise_while_nbval_runs(tmp_path):
    book = nbformat.v4.new_notebook()
    book.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    code = nbformat.v4.new_code_cell
    book.cells = [
        code("x = 5"),
        code("### BEGIN SOLUTION\ntotal = 6\n### END SOLUTION"),
        code("# check: total is six\nassert total == 6"),
        code("### BEGIN SOLUTION\nx = 5\n### END SOLUTION"),
        code("# check: x is five (also before the exercise: a bad check)\nassert x == 5"),
    ]
    nbformat.write(book, tmp_path / "demo.ipynb")
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "xmlab.course.pytest_exercises", "--nbval-lax",
         "-p", "no:cacheprovider", "-rA", "demo.ipynb"],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert run.returncode == 1, run.stdout
    assert "PASSED demo.ipynb::Cell 1 exercise 1 check fails on the stub" in run.stdout
    assert "FAILED demo.ipynb::Cell 3 exercise 2 check fails on the stub" in run.stdout
    assert "1 failed, 6 passed" in run.stdout
