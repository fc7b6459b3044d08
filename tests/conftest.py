import shutil
import subprocess
import sys
from pathlib import Path

import matplotlib
import pytest
import torch

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _seed_and_threads():
    torch.manual_seed(0)
    yield


@pytest.fixture(autouse=True)
def _no_classroom_mirror(monkeypatch):
    """Unit tests choose their own data sources: a classroom mirror set for the notebooks
    (``XMLAB_MIRROR``, as CI sets it) must not answer the downloads they stage."""
    monkeypatch.delenv("XMLAB_MIRROR", raising=False)


@pytest.fixture(scope="session")
def kit_wheel(tmp_path_factory) -> tuple[Path, str]:
    """The kit built as a wheel from a clean copy of its files, and the build's verbose log."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    shutil.copytree(ROOT / "xmlab", src / "xmlab", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, src / name)
    cmd = [sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "--no-build-isolation"]
    done = subprocess.run(
        [*cmd, "--no-index", "-v", "-w", str(tmp / "dist")], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    (wheel,) = (tmp / "dist").glob("xmlab-*.whl")
    return wheel, done.stdout + done.stderr
