"""`make` repairs a half-made .venv, and explains a Python that cannot make one."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(not shutil.which("make"), reason="make is not installed")


def _make_venv(venv: Path, python: str = sys.executable) -> subprocess.CompletedProcess:
    command = ["make", "--no-print-directory", "-C", str(ROOT), "venv", f"VENV={venv}"]
    return subprocess.run([*command, f"PYTHON={python}"], capture_output=True, text=True)


def _has_pip(venv: Path) -> bool:
    done = subprocess.run([venv / "bin/python", "-m", "pip", "--version"], capture_output=True)
    return done.returncode == 0


def test_half_made_venv_is_removed_and_made_again(tmp_path):
    venv = tmp_path / ".venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True)
    assert (venv / "bin/python").exists() and not _has_pip(venv)  # what a failed venv leaves
    done = _make_venv(venv)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "half made" in done.stdout
    assert _has_pip(venv)
    again = _make_venv(venv)  # a whole .venv is left alone
    assert again.returncode == 0 and again.stdout == ""


WITHOUT_ENSUREPIP = """#!{python}
# python3 as Debian ships it without python3-venv: `-m venv` makes the folder and its python,
# then fails to install pip into it because the ensurepip module is missing.
import subprocess, sys, venv

def setup_pip(self, context):
    command = [context.env_exec_cmd, "-m", "ensurepip_not_installed"]
    subprocess.check_output(command, stderr=subprocess.STDOUT)

venv.EnvBuilder._setup_pip = setup_pip
assert sys.argv[1:3] == ["-m", "venv"], sys.argv
sys.argv = ["venv", *sys.argv[3:]]
try:
    venv.main()
except Exception as err:
    sys.exit(f"Error: {{err}}")
"""


def _python_without_ensurepip(tmp_path: Path) -> Path:
    wrapper = tmp_path / "python3"
    wrapper.write_text(WITHOUT_ENSUREPIP.format(python=sys.executable))
    wrapper.chmod(0o755)
    return wrapper


def test_python_without_venv_support_is_explained_and_leaves_nothing(tmp_path):
    venv = tmp_path / ".venv"
    done = _make_venv(venv, python=str(_python_without_ensurepip(tmp_path)))
    assert done.returncode != 0
    assert "ensurepip_not_installed" in done.stderr  # venv's own error, shown above ours
    assert "sudo apt install python3-venv" in done.stdout
    assert "half-made" in done.stdout and not venv.exists()
