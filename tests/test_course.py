import json
import subprocess
import sys

import nbformat
import pytest

import xmlab as xm
from xmlab import course
from xmlab.cli import main


def test_record_in_memory_and_to_file(tmp_path, monkeypatch):
    monkeypatch.delenv("XMLAB_RECORD_FILE", raising=False)
    assert xm.record("acc", 0.5) == 0.5 and xm.recorded()["acc"] == 0.5
    path = tmp_path / "m.jsonl"
    monkeypatch.setenv("XMLAB_RECORD_FILE", str(path))
    xm.record("acc", 0.75)
    xm.record("device", "cpu")
    assert course.read_records(path) == {"acc": 0.75, "device": "cpu"}


def test_record_rejects_bad_values():
    with pytest.raises(TypeError, match="number or a string"):
        xm.record("x", [1, 2])
    with pytest.raises(ValueError, match="non-empty name"):
        xm.record("", 1)


def _notebook(path, code):
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("n = 2", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell(code),
    ]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, path)


def test_run_course_summarises_and_survives_a_failure(tmp_path, capsys):
    books = tmp_path / "notebooks"
    books.mkdir()
    _notebook(
        books / "00_good.ipynb",
        "import xmlab as xm\nxm.record('score', n * 0.25)\nxm.record('device', 'cpu')",
    )
    _notebook(books / "01_bad.ipynb", "raise RuntimeError('boom')")
    (books / "notes.ipynb").write_text("{}")  # not a course notebook: ignored
    code = main(["run", "--notebooks", str(books), "--out", str(tmp_path / "runs"), "-p", "n", "3"])
    assert code == 1
    latest = tmp_path / "runs" / "latest"
    summary = json.loads((latest / "summary.json").read_text())
    assert [r["notebook"] for r in summary] == ["00_good.ipynb", "01_bad.ipynb"]
    assert summary[0]["status"] == "ok" and summary[0]["metrics"] == {"score": 0.75}
    assert summary[0]["device"] == "cpu"
    assert summary[1]["status"] == "failed" and "RuntimeError: boom" in summary[1]["error"]
    assert summary[1]["device"] == str(xm.utils.get_device("auto"))  # recorded none: its own
    assert "| 00_good.ipynb | ok |" in (latest / "summary.md").read_text()
    assert "01_bad.ipynb failed" in capsys.readouterr().out


def test_missing_notebook_folder_is_explained(tmp_path):
    with pytest.raises(FileNotFoundError, match="no notebook folder"):
        course.find_notebooks(tmp_path / "nowhere")


def test_console_script_info():
    out = subprocess.run(
        [sys.executable, "-m", "xmlab.cli", "info"], capture_output=True, text=True, check=True
    ).stdout
    assert "xmlab 0.1.0" in out and "device 'auto' ->" in out
