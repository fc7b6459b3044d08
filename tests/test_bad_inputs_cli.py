"""Bad input to the ``xmlab`` command: ``run``, ``sweep``, ``info`` and the command line itself.

Each case runs the command in this process (``bad_inputs.cli``): it must exit with a non-zero
status and print, without a traceback, what was expected, what came and what to do. None of
these cases starts a notebook: every mistake is found before anything runs.
"""

import tempfile
from pathlib import Path

import nbformat
from bad_inputs import CommandFailed, case, check, cli, table


def notebooks(parameters: str | None = "epochs = 2\nlr = 1e-3") -> Path:
    """A folder with one course notebook whose parameters cell is ``parameters``."""
    folder = Path(tempfile.mkdtemp())
    nb = nbformat.v4.new_notebook()
    tags = {"tags": ["parameters"]} if parameters is not None else {}
    nb.cells = [nbformat.v4.new_code_cell(parameters or "x = 1", metadata=tags),
                nbformat.v4.new_code_cell("print(epochs)")]  # fmt: skip
    nbformat.write(nb, folder / "00_first.ipynb")
    return folder


def notebook(**kwargs) -> str:
    return str(notebooks(**kwargs) / "00_first.ipynb")


def broken_notebook() -> str:
    path = Path(tempfile.mkdtemp()) / "half.ipynb"
    path.write_text('{"cells": [')
    return str(path)


def out() -> str:
    return tempfile.mkdtemp()


CASES = [
    # --- xmlab run -------------------------------------------------------------------------
    case("cli/run-missing-folder", lambda: cli("run", "--notebooks", "/no/such/folder"),
         CommandFailed, r"expected the folder of the course's", r"no notebook folder at /no/such",
         r"--notebooks FOLDER"),
    case("cli/run-folder-without-notebooks", lambda: cli("run", "--notebooks", out()),
         CommandFailed, r"named like 00_welcome\.ipynb", r"holds no notebooks",
         r"--notebooks FOLDER"),
    case("cli/run-only-matches-nothing",
         lambda: cli("run", "--notebooks", str(notebooks()), "--only", "99"),
         CommandFailed, r"expected the start of 00_first\.ipynb", r"no notebook matches --only 99",
         r"--only"),
    case("cli/run-misspelt-parameter",
         lambda: cli("run", "--notebooks", str(notebooks()), "--out", out(), "-p", "epochz", "3"),
         CommandFailed, r"expected one of epochs, lr", r"unknown parameter 'epochz'",
         r"did you mean 'epochs'"),
    case("cli/run-parameter-without-value", lambda: cli("run", "-p", "epochs"),
         CommandFailed, r"expected 2 arguments", r"-p/--parameter", r"usage: xmlab run"),
    # --- xmlab sweep -----------------------------------------------------------------------
    case("cli/sweep-missing-notebook", lambda: cli("sweep", "/no/such.ipynb", "-p", "lr", "1"),
         CommandFailed, r"no notebook at", r"/no/such\.ipynb", r"check the path"),
    case("cli/sweep-misspelt-parameter",
         lambda: cli("sweep", notebook(), "-p", "lrr", "0.1", "--out", out()),
         CommandFailed, r"expected one of epochs, lr", r"00_first\.ipynb has no parameter",
         r"did you mean 'lr'"),
    case("cli/sweep-notebook-without-parameters",
         lambda: cli("sweep", notebook(parameters=None), "-p", "x", "1", "--out", out()),
         CommandFailed, r"no cell is tagged parameters", r"unknown parameter 'x'",
         r"check the spelling"),
    case("cli/sweep-broken-notebook",
         lambda: cli("sweep", broken_notebook(), "-p", "lr", "1", "--out", out()),
         CommandFailed, r"expected an\s+\.ipynb file", r"cannot read the notebook .*half\.ipynb",
         r"open and save it in Jupyter"),
    case("cli/sweep-parameter-without-values", lambda: cli("sweep", notebook(), "-p", "lr"),
         CommandFailed, r"VALUE \[VALUE \.\.\.\]", r"-p lr has no values", r"write -p lr"),
    case("cli/sweep-parameter-twice",
         lambda: cli("sweep", notebook(), "-p", "lr", "1", "-p", "lr", "2"),
         CommandFailed, r"all its values after one -p", r"-p lr is given twice", r"list all"),
    case("cli/sweep-no-workers",
         lambda: cli("sweep", notebook(), "-p", "lr", "1", "--workers", "0", "--out", out()),
         CommandFailed, r"workers must be an integer at least 1", r"got 0", r"e\.g\. 2"),
    case("cli/sweep-without-parameters", lambda: cli("sweep", notebook()),
         CommandFailed, r"arguments are required", r"-p/--parameter", r"usage: xmlab sweep"),
    # --- the command line itself -----------------------------------------------------------
    case("cli/no-command", lambda: cli(),
         CommandFailed, r"arguments are required: command", r"required", r"usage: xmlab"),
    case("cli/unknown-command", lambda: cli("train"),
         CommandFailed, r"choose from .*run.*sweep", r"invalid choice: 'train'", r"usage: xmlab"),
    case("cli/info-with-an-argument", lambda: cli("info", "--fast"),
         CommandFailed, r"unrecognized arguments", r"--fast", r"usage: xmlab"),
]  # fmt: skip


@table(CASES)
def test_bad_command_gets_a_clear_error(bad):
    check(bad)


def test_info_runs():
    assert cli("info") == 0
