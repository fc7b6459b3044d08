"""A notebook whose data is missing is reported as skipped, with the reason: by `xmlab run`,
and by pytest (the repository's conftest.py). All offline, on temporary notebooks."""

import dataclasses
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from test_download import fsdd_archive

from xmlab import course, needs
from xmlab.cli import main
from xmlab.data import cache
from xmlab.data import download as dl

ROOT = Path(__file__).resolve().parents[1]


def _offline(url):
    raise OSError("Temporary failure in name resolution")


@pytest.fixture
def offline(tmp_path, monkeypatch):
    """No cache, no mirror, no internet."""
    monkeypatch.setenv(cache.ENV_VAR, str(tmp_path / "empty-cache"))
    monkeypatch.delenv(cache.MIRROR_VAR, raising=False)
    monkeypatch.setattr(cache, "urllib_fetch", _offline)


def _notebook(path: Path, needs_list, code="print('ran')") -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(code)]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    if needs_list is not None:
        nb.metadata["xmlab"] = {"needs": needs_list}
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def test_missing_data_gives_the_reason(offline):
    reason = needs.why_missing("fsdd")
    assert "could not get free-spoken-digit-dataset-1.0.10.tar.gz" in reason
    assert "offline" in reason and "XMLAB_MIRROR" in reason
    assert needs.missing(["fsdd"]) == {"fsdd": reason}


def test_data_in_the_mirror_is_present(offline, tmp_path, monkeypatch):
    archive = fsdd_archive()
    monkeypatch.setattr(
        dl, "FSDD", dataclasses.replace(dl.FSDD, sha256=hashlib.sha256(archive).hexdigest())
    )
    (tmp_path / "mirror").mkdir()
    (tmp_path / "mirror" / dl.FSDD.name).write_bytes(archive)
    monkeypatch.setenv(cache.MIRROR_VAR, str(tmp_path / "mirror"))
    assert needs.why_missing("fsdd") is None and needs.missing(["fsdd"]) == {}


def test_missing_extra_says_how_to_install_it(monkeypatch):
    monkeypatch.setattr(needs.importlib.util, "find_spec", lambda name: None)
    assert 'pip install "xmlab[pretrained]"' in needs.why_missing("pretrained")


def test_notebook_needs_from_metadata(tmp_path):
    assert needs.notebook_needs(_notebook(tmp_path / "a.ipynb", ["fsdd"])) == ["fsdd"]
    assert needs.notebook_needs(_notebook(tmp_path / "b.ipynb", None)) == []
    assert needs.skip_reason(tmp_path / "b.ipynb") is None
    with pytest.raises(ValueError, match="must be a list of names"):
        needs.notebook_needs(_notebook(tmp_path / "c.ipynb", "fsdd"))
    with pytest.raises(ValueError, match="unknown need 'fdsd'.*'fsdd'"):
        needs.skip_reason(_notebook(tmp_path / "d.ipynb", ["fdsd"]))


def test_course_notebooks_declare_known_needs():
    for notebook in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        assert set(needs.notebook_needs(notebook)) <= set(needs.NEEDS), notebook.name


def test_xmlab_run_reports_skipped_with_the_reason(offline, tmp_path, capsys):
    books = tmp_path / "notebooks"
    _notebook(books / "00_real.ipynb", ["fsdd"], "raise RuntimeError('must not run')")
    code = main(["run", "--notebooks", str(books), "--out", str(tmp_path / "runs")])
    assert code == 0  # skipped is not failed
    summary = json.loads((tmp_path / "runs" / "latest" / "summary.json").read_text())
    assert summary[0]["status"] == "skipped"
    assert summary[0]["error"].startswith("needs fsdd: could not get")
    out = capsys.readouterr().out
    assert "| 00_real.ipynb | skipped |" in out and "**00_real.ipynb skipped**: needs fsdd" in out
    assert not (tmp_path / "runs" / "latest" / "00_real.ipynb").exists()  # never executed


def test_summary_keeps_failed_and_skipped_apart():
    results = [
        course.NotebookResult("a.ipynb", "failed", 1.0, "cpu", error="cell 3: ValueError: x"),
        course.NotebookResult("b.ipynb", "skipped", 0.0, "-", error="needs fsdd: offline"),
    ]
    text = course.summary_markdown(results)
    assert "**a.ipynb failed** at cell 3" in text and "**b.ipynb skipped**: needs fsdd" in text


def test_pytest_skips_a_notebook_with_the_reason(tmp_path):
    """The repository's conftest.py hook, run by pytest and nbval on a notebook in a folder."""
    shutil.copy(ROOT / "conftest.py", tmp_path / "conftest.py")
    _notebook(tmp_path / "real.ipynb", ["fsdd"], "raise RuntimeError('must not run')")
    _notebook(tmp_path / "plain.ipynb", None, "x = 1")
    env = {
        **os.environ,
        cache.ENV_VAR: str(tmp_path / "empty-cache"),
        cache.MIRROR_VAR: str(tmp_path / "no-mirror"),
        "https_proxy": "http://127.0.0.1:9",  # offline: every download is refused at once
        "http_proxy": "http://127.0.0.1:9",
    }
    for name in ("XMLAB_CI_LIGHT", "no_proxy", "NO_PROXY"):
        env.pop(name, None)
    command = [sys.executable, "-m", "pytest", "--nbval-lax", "-rs", "-p", "no:cacheprovider",
               "-o", "addopts=", "real.ipynb", "plain.ipynb"]  # fmt: skip
    proc = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True)
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    assert "1 passed, 1 skipped" in out
    assert "real.ipynb needs fsdd: could not get free-spoken-digit-dataset" in out
