"""Without Chromium the browser test is skipped with its reason on a laptop, and fails under CI."""

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from test_browser import CHROMIUM_VAR, find_chromium

ROOT = Path(__file__).resolve().parents[1]
BROWSER_TEST = "tests/test_browser.py::test_notebook_05_widgets_in_a_real_browser"


def _run_browser_test(env: dict) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "pytest", BROWSER_TEST, "-ra", "-p", "no:cacheprovider"]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def _env(**changes) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("CI", CHROMIUM_VAR)}
    return {**env, **changes}


def test_hidden_browser_is_a_skip_with_its_reason_on_a_laptop(tmp_path):
    done = _run_browser_test(_env(**{CHROMIUM_VAR: str(tmp_path / "no-chromium")}))
    assert done.returncode == 0, done.stdout[-3000:]
    assert "1 skipped" in done.stdout and "SKIPPED" in done.stdout
    assert "no browser for the JupyterLab widget test" in done.stdout  # -ra prints the reason
    assert "apt install chromium" in done.stdout


def test_hidden_browser_fails_under_ci(tmp_path):
    done = _run_browser_test(_env(CI="1", **{CHROMIUM_VAR: str(tmp_path / "no-chromium")}))
    assert done.returncode == 1, done.stdout[-3000:]
    assert "1 failed" in done.stdout and "CI must run the browser test" in done.stdout


def _fake_browser(folder: Path, name: str) -> Path:
    path = folder / name
    path.write_text("#!/bin/sh\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.mark.parametrize("name", ["chromium", "chromium-browser", "google-chrome"])
def test_browser_is_found_on_the_path(tmp_path, monkeypatch, name):
    monkeypatch.delenv(CHROMIUM_VAR, raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert find_chromium() == (None, "no chromium / chromium-browser / google-chrome on the PATH")
    browser = _fake_browser(tmp_path, name)
    assert find_chromium() == (str(browser), "")


def test_the_variable_names_the_browser_and_hides_the_path(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    _fake_browser(tmp_path, "chromium")
    chrome = _fake_browser(tmp_path / "..", "my-chrome")
    monkeypatch.setenv(CHROMIUM_VAR, str(chrome))
    assert find_chromium() == (str(chrome), "")
    monkeypatch.setenv(CHROMIUM_VAR, "")
    path, why = find_chromium()
    assert path is None and CHROMIUM_VAR in why
