"""Bad input to `xmlab student` and `xmlab grade`: a one-line error that names what is wrong and
what to do, exit status 2, no traceback, and nothing half-written.

Each row: the command line (``{tmp}`` is a prepared folder), then words the error must contain.
"""

import nbformat
import pytest

from xmlab.cli import main

GOOD = "### BEGIN SOLUTION  hint: set x\nx = 1\n### END SOLUTION"
CASES = [
    (
        "student: no such folder",
        "student --notebooks {tmp}/nowhere",
        ["no notebook folder", "--notebooks"],
    ),
    (
        "student: malformed JSON",
        "student --notebooks {tmp}/broken_json",
        ["02_bad.ipynb is not a notebook Jupyter can open"],
    ),
    (
        "student: JSON that is no notebook",
        "student --notebooks {tmp}/not_a_notebook",
        ["02_bad.ipynb is not a notebook"],
    ),
    (
        "student: solution never closed",
        "student --notebooks {tmp}/unclosed",
        ["02_bad.ipynb cell 0", "never closed"],
    ),
    (
        "student: over the teacher notebooks",
        "student --notebooks {tmp}/good --out {tmp}/good",
        ["would overwrite the teacher notebooks"],
    ),
    (
        "student: around the teacher notebooks",
        "student --notebooks {tmp}/good --out {tmp}",
        ["holds the teacher notebooks"],
    ),
    (
        "grade: no submissions folder",
        "grade {tmp}/nowhere --teacher {tmp}/good",
        ["no folder of submissions"],
    ),
    (
        "grade: no teacher folder",
        "grade {tmp}/subs --teacher {tmp}/nowhere",
        ["no folder of teacher notebooks"],
    ),
    (
        "grade: teacher folder without lessons",
        "grade {tmp}/subs --teacher {tmp}/subs",
        ["holds no lessons"],
    ),
    (
        "grade: no student folders",
        "grade {tmp}/good --teacher {tmp}/good",
        ["holds no student folders"],
    ),
    (
        "grade: a broken teacher notebook",
        "grade {tmp}/subs --teacher {tmp}/broken_json",
        ["02_bad.ipynb is not a notebook"],
    ),
    (
        "grade: zero timeout",
        "grade {tmp}/subs --teacher {tmp}/good --timeout 0",
        ["timeout must be a positive"],
    ),
]


def _book(path, source):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source)]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)


@pytest.fixture()
def folders(tmp_path):
    for name in ("good", "broken_json", "not_a_notebook", "unclosed"):
        _book(tmp_path / name / "01_a.ipynb", GOOD)
    (tmp_path / "broken_json" / "02_bad.ipynb").write_text('{"cells": [', encoding="utf-8")
    (tmp_path / "not_a_notebook" / "02_bad.ipynb").write_text('{"a": 1}', encoding="utf-8")
    _book(tmp_path / "unclosed" / "02_bad.ipynb", "### BEGIN SOLUTION\nx = 1")
    (tmp_path / "subs" / "alice").mkdir(parents=True)
    return tmp_path


@pytest.mark.parametrize(("command", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_explained(folders, capsys, command, words):
    before = sorted(p.relative_to(folders) for p in folders.rglob("*"))
    assert main(command.format(tmp=folders).split()) == 2
    err = capsys.readouterr().err
    assert all(w in err for w in words), err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    after = sorted(p.relative_to(folders) for p in folders.rglob("*"))
    assert after == before, "a failed command left files behind"
