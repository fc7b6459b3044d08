"""Where students really install the kit: a plain `pip install`, and Google Colab.

Each environment is new (tests/freshenv.py): it sees this machine's PyTorch through symlinks,
pip installs the built wheel into it, and the rest comes from the package index, as it would for
a student (the first run downloads a few hundred MB into pip's cache). Jupyter's user folders are
hidden from it, so notebooks run in its own kernel.

Colab is simulated by the packages of its runtime that the kit's install meets, at Colab's
versions (2026.01 runtime; docs/teaching.md gives the source): ipywidgets 7.7.1 and its
extensions, ipykernel, IPython, jupyter_client, traitlets, nbformat, nbclient, tqdm and
scikit-learn, with this machine's torch, torchvision, numpy and matplotlib in place of Colab's.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from freshenv import clean_env, closure, fresh_venv, pip, run_python, versions

from xmlab import release

ROOT = Path(__file__).resolve().parents[1]
TEST_EXTRAS = ("pytest", "nbval", "playwright", "jupyterlab", "ruff")
COLAB_PINS = {  # googlecolab/backend-info, pip-freeze.txt of runtime 2026.01 (commit bd8aaa4)
    "ipywidgets": "7.7.1",
    "widgetsnbextension": "3.6.10",
    "jupyterlab-widgets": "3.0.16",
    "ipykernel": "6.17.1",
    "ipython": "7.34.0",
    "jupyter-client": "7.4.9",
    "traitlets": "5.7.1",
    "notebook": "6.5.7",  # widgetsnbextension 3 needs it
    "nbformat": "5.10.4",
    "nbclient": "0.10.4",
    "tqdm": "4.67.1",
    "scikit-learn": "1.6.1",
    "pytest": "8.4.2",  # runs the widget tests there
}
WIDGET_TESTS = ("tests/test_widgets.py", "tests/test_widgets_training.py")


def _env(tmp_path: Path) -> dict[str, str]:
    """Notebook runs see no Jupyter user folder (no other kernel named python3) and run light."""
    (tmp_path / "jupyter-data").mkdir(exist_ok=True)
    return clean_env(JUPYTER_DATA_DIR=str(tmp_path / "jupyter-data"), XMLAB_CI_LIGHT="1")


def _kernel_python(python: Path, tmp_path: Path) -> Path:
    """The python the kernel 'python3' of that environment starts."""
    code = """import sys
from jupyter_client.kernelspec import KernelSpecManager
argv = KernelSpecManager().get_kernel_spec("python3").argv
print(sys.executable if argv[0] in ("python", "python3") else argv[0])"""
    done = subprocess.run(
        [python, "-c", code], env=_env(tmp_path), capture_output=True, text=True, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return Path(done.stdout.strip())


def _install_wheel(python: Path, wheel: Path) -> tuple[dict, dict]:
    """pip install the wheel as a student would; the environment's packages before and after."""
    before = versions(python)
    pip(python, "install", str(wheel))
    return before, versions(python)


@pytest.fixture(scope="module")
def plain(kit_wheel, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("plain")
    python = fresh_venv(tmp / "venv", closure(["torch", "torchvision"]))
    return python, *_install_wheel(python, kit_wheel[0])


@pytest.fixture(scope="module")
def colab(kit_wheel, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("colab")
    python = fresh_venv(tmp / "venv", closure(["torch", "torchvision", "numpy", "matplotlib"]))
    pip(python, "install", *(f"{name}=={version}" for name, version in COLAB_PINS.items()))
    return python, *_install_wheel(python, kit_wheel[0])


def _kept(before: dict, after: dict) -> list[str]:
    """What pip replaced or removed: 'name version -> version' for each."""
    return [f"{n} {v} -> {after.get(n)}" for n, v in before.items() if after.get(n) != v]


def test_plain_install_keeps_torch_and_brings_no_test_tools(plain):
    python, before, after = plain
    assert not _kept(before, after), f"pip replaced what was installed: {_kept(before, after)}"
    assert Path(after["torch"][1]).name == "provided"  # the machine's torch, not a download
    assert after["xmlab"][0] == release.__version__ and "site-packages" in after["xmlab"][1]
    assert "ipykernel" in after, "the base install needs a kernel for `xmlab run`"
    assert not [name for name in TEST_EXTRAS if name in after]


def test_plain_install_runs_xmlab_info_and_notebook_00(plain, tmp_path):
    python, _, after = plain
    assert _kernel_python(python, tmp_path) == python  # not resolved: venv pythons are links
    xmlab = python.parent / "xmlab"
    info = subprocess.run(
        [xmlab, "info"], capture_output=True, text=True, env=_env(tmp_path), cwd=tmp_path
    )
    assert info.returncode == 0, info.stderr[-2000:]
    assert f"xmlab {release.__version__}" in info.stdout and after["torch"][0] in info.stdout
    command = [xmlab, "run", "--notebooks", ROOT / "notebooks", "--only", "00"]
    done = subprocess.run(
        [*command, "--out", tmp_path / "runs"], capture_output=True, text=True,
        env=_env(tmp_path), cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "| 00_welcome.ipynb | ok |" in done.stdout
    assert "without encryption" not in done.stderr  # only the kit's progress and summary


def test_colab_install_changes_none_of_colabs_packages(colab):
    python, before, after = colab
    assert not _kept(before, after), f"the install cell would change Colab: {_kept(before, after)}"
    for name, version in COLAB_PINS.items():
        assert after[name][0] == version, (name, after[name])
    assert Path(after["torch"][1]).name == "provided"
    assert after["xmlab"][0] == release.__version__ and "site-packages" in after["xmlab"][1]


def test_notebook_00_runs_on_colab_with_papermill(colab, tmp_path):
    python, _, _ = colab
    assert _kernel_python(python, tmp_path) == python  # not resolved: venv pythons are links
    notebook = ROOT / "notebooks" / "00_welcome.ipynb"
    command = [python, "-m", "papermill", notebook, tmp_path / notebook.name, "-k", "python3"]
    done = subprocess.run(
        [*command, "--cwd", notebook.parent, "--no-progress-bar"], capture_output=True,
        text=True, env=_env(tmp_path), cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-4000:]


def test_kits_widgets_work_under_colabs_ipywidgets_7_7(colab, tmp_path):
    """The widget tests of this suite, run in the Colab environment against the installed kit."""
    python, _, after = colab
    code = "import ipywidgets, xmlab; print(ipywidgets.__version__, xmlab.__file__)"
    widgets_version, kit_file = run_python(python, code).split()
    assert widgets_version == "7.7.1" and kit_file.startswith(after["xmlab"][1])
    tests = [str(ROOT / t) for t in WIDGET_TESTS]
    done = subprocess.run(
        [python, "-m", "pytest", *tests, "-q", "-p", "no:cacheprovider"], capture_output=True,
        text=True, env=_env(tmp_path), cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-4000:]
    assert " passed" in done.stdout and "skipped" not in done.stdout


def test_teaching_guide_lists_the_colab_versions_tested_here():
    guide = (ROOT / "docs" / "teaching.md").read_text()
    listed = [f"{name} {version}" for name, version in COLAB_PINS.items() if name != "pytest"]
    missing = [entry for entry in listed if entry not in guide]
    assert not missing, f"docs/teaching.md's tested versions lack {missing}"
