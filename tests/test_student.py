import ast
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbfiles import write_notebook

from xmlab import student
from xmlab.cli import main

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
COURSE = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))

EXERCISE = """values = [1, 2, 3]
### BEGIN SOLUTION  hint: add up `values` with sum()
total = 0
for v in values:
    total += v
### END SOLUTION
print(total)"""


def _execute(path: Path) -> list:
    """Run every cell (errors allowed); return each code cell's error name or None, by index."""
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, kernel_name="python3", allow_errors=True, timeout=120).execute()
    return [
        next((o["ename"] for o in c.outputs if o.output_type == "error"), None)
        if c.cell_type == "code"
        else None
        for c in nb.cells
    ]


def test_solution_becomes_stub_with_hint_and_keeps_the_rest():
    source, hints = student.strip_solutions(EXERCISE)
    assert hints == ["add up `values` with sum()"]
    assert source.splitlines() == [
        "values = [1, 2, 3]",
        "# YOUR CODE HERE",
        'raise NotImplementedError("exercise 1: add up `values` with sum()")',
        "print(total)",
    ]
    with pytest.raises(NotImplementedError, match="exercise 1: add up"):
        exec(compile(source, "cell", "exec"), {})


def test_indented_blocks_are_numbered_and_stay_valid_python():
    source = (
        "def f(x):\n"
        "    ### BEGIN SOLUTION\n    return x + 1\n    ### END SOLUTION\n\n\n"
        "def g(x):\n"
        "    ### BEGIN SOLUTION: double it\n    return 2 * x\n    ### END SOLUTION\n"
    )
    out, hints = student.strip_solutions(source, first_number=3)
    assert hints == [student.DEFAULT_HINT, "double it"]
    assert "return" not in out and "exercise 3:" in out and "exercise 4: double it" in out
    namespace = {}
    exec(compile(ast.parse(out), "cell", "exec"), namespace)
    for name in ("f", "g"):
        with pytest.raises(NotImplementedError):
            namespace[name](1)


def test_markdown_answers_become_a_prompt():
    out, hints = student.strip_solutions(
        "Why?\n### BEGIN SOLUTION\nBecause the batch holds more negatives.\n### END SOLUTION",
        kind="markdown",
    )
    assert out == "Why?\n*Your answer here.*" and len(hints) == 1


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("### BEGIN SOLUTION\nx = 1", "never closed"),
        ("x = 1\n### END SOLUTION", "without a '### BEGIN SOLUTION'"),
        ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION", "inside the one opened"),
    ],
)
def test_broken_markers_are_explained(source, message):
    with pytest.raises(ValueError, match=message) as info:
        student.strip_solutions(source, where="01_x.ipynb cell 4")
    assert "01_x.ipynb cell 4" in str(info.value)


def test_student_notebook_tags_exercises_and_clears_outputs():
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("x = 1", outputs=[nbformat.v4.new_output("stream", text="1")]),
        nbformat.v4.new_code_cell(EXERCISE),
        nbformat.v4.new_code_cell("assert total == 6"),
        nbformat.v4.new_code_cell("### BEGIN SOLUTION\ny = 2\n### END SOLUTION"),
    ]
    exercises = student.student_notebook(nb, "demo.ipynb")
    assert [(e.cell, e.number) for e in exercises] == [(1, 1), (3, 2)]
    assert nb.cells[0].outputs == [] and nb.cells[2].source == "assert total == 6"
    assert [("exercise" in c.metadata.get("tags", [])) for c in nb.cells] == [0, 1, 0, 1]
    assert "exercise 2:" in nb.cells[3].source


def test_teacher_passes_and_student_fails_exactly_at_the_exercise(tmp_path):
    cells = [
        ("markdown", "# Demo"),
        ("code", "values_ready = True"),
        ("code", EXERCISE),
        ("code", "assert total == sum(values)  # check"),
    ]
    teacher = write_notebook(tmp_path / "teacher" / "00_demo.ipynb", cells)
    assert _execute(teacher) == [None, None, None, None]
    exercises = student.write_student_versions(tmp_path / "teacher", tmp_path / "student")
    assert [(e.notebook, e.cell) for e in exercises] == [("00_demo.ipynb", 2)]
    errors = _execute(tmp_path / "student" / "00_demo.ipynb")
    assert errors[:3] == [None, None, "NotImplementedError"]
    assert errors[3] is not None  # the check cannot pass before the exercise is done


def test_write_student_versions_copies_helpers_and_guards_the_teacher_folder(tmp_path, capsys):
    src = tmp_path / "notebooks"
    write_notebook(src / "01_a.ipynb", [("code", EXERCISE)])
    write_notebook(src / "experiments" / "run.ipynb", [("code", "x = 1")])
    assert main(["student", "--notebooks", str(src), "--out", str(tmp_path / "s")]) == 0
    assert "01_a.ipynb: 1 exercise" in capsys.readouterr().out
    assert nbformat.read(tmp_path / "s" / "experiments" / "run.ipynb", 4).cells[0].source == "x = 1"
    with pytest.raises(ValueError, match="would overwrite the teacher notebooks"):
        student.write_student_versions(src, src)
    with pytest.raises(ValueError, match="holds the teacher notebooks"):
        student.write_student_versions(src, tmp_path)


def test_default_folder_is_inside_the_course_and_links_open_the_student_copy(tmp_path):
    src = tmp_path / "notebooks"
    badge = (
        "[![Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
        "(https://colab.research.google.com/github/o/r/blob/main/notebooks/01_a.ipynb) "
        "[![Binder](b.svg)](https://mybinder.org/v2/gh/o/r/main?urlpath=lab/tree/notebooks/01_a.ipynb)"
    )
    teacher = write_notebook(src / "01_a.ipynb", [("markdown", badge), ("code", EXERCISE)])
    student.write_student_versions(src)
    student.write_student_versions(src)  # again: the student folder is not read as a lesson
    made = sorted(p.relative_to(src).as_posix() for p in src.rglob("*.ipynb"))
    assert made == ["01_a.ipynb", "student/01_a.ipynb"]
    copy = nbformat.read(src / "student" / "01_a.ipynb", 4)
    assert copy.cells[0].source.count("notebooks/student/01_a.ipynb") == 2
    assert "notebooks/01_a.ipynb" not in copy.cells[0].source
    original = nbformat.read(teacher, 4)
    assert [c.id for c in copy.cells] == [c.id for c in original.cells]  # the grader's anchor


def test_a_broken_notebook_is_named_and_leaves_the_old_copies(tmp_path, capsys):
    src = tmp_path / "notebooks"
    write_notebook(src / "01_a.ipynb", [("code", EXERCISE)])
    assert main(["student", "--notebooks", str(src)]) == 0
    before = (src / "student" / "01_a.ipynb").read_text()
    write_notebook(src / "02_bad.ipynb", [("code", "### BEGIN SOLUTION\nx = 1")])
    assert main(["student", "--notebooks", str(src)]) == 2
    assert "02_bad.ipynb cell 0" in capsys.readouterr().err
    (src / "02_bad.ipynb").write_text('{"cells": [', encoding="utf-8")
    assert main(["student", "--notebooks", str(src)]) == 2
    err = capsys.readouterr().err
    assert "02_bad.ipynb is not a notebook Jupyter can open" in err and "Traceback" not in err
    assert sorted(p.name for p in (src / "student").iterdir()) == ["01_a.ipynb"]
    assert (src / "student" / "01_a.ipynb").read_text() == before
    assert [p.name for p in src.iterdir() if p.name.startswith(".")] == []  # nothing half-made


@pytest.mark.parametrize("path", COURSE, ids=[p.name for p in COURSE])
def test_course_notebook_student_version(path):
    nb = nbformat.read(path, as_version=4)
    exercises = student.student_notebook(nb, path.name)
    assert exercises, f"{path.name} has no '### BEGIN SOLUTION' exercise: every lesson needs one"
    text = "\n".join(c.source for c in nb.cells)
    assert student.BEGIN not in text and student.END not in text
    for ex in exercises:
        stub = "*Your answer here.*" if ex.kind == "written" else f"exercise {ex.number}:"
        assert stub in nb.cells[ex.cell].source
