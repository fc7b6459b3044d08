"""Delivery checks, offline: Binder's files, what the installed package ships, Colab's cells."""

import importlib.metadata
import re
import subprocess
import sys
import types
import zipfile
from pathlib import Path

import nbformat
import pytest
from IPython.core.inputtransformer2 import TransformerManager
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from xmlab import release

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    from pip._vendor import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
BINDER = ROOT / "binder"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
COURSE = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
# repo2docker files that would override or bypass requirements.txt if they appeared
OVERRIDES = ("environment.yml", "Pipfile", "Pipfile.lock", "setup.py", "Project.toml", "install.R")
NETWORK = re.compile(r"\b(pip install|urllib|requests\.|wget|curl|git clone)\b")
COLAB_UNSAFE = re.compile(r"ipympl|%matplotlib widget|bqplot|ipycanvas|anywidget|FigureWidget")


def _requirements() -> list[str]:
    lines = (BINDER / "requirements.txt").read_text().splitlines()
    return [line.split("#")[0].strip() for line in lines if line.split("#")[0].strip()]


def _pins() -> dict[str, Version]:
    pins = {}
    for line in _requirements():
        if line.startswith("-") or line == ".":
            continue
        req = Requirement(line)
        (spec,) = req.specifier  # one exact pin per line
        assert spec.operator == "==", f"pin {line!r} exactly (==) so every Binder build is alike"
        pins[req.name.lower()] = Version(spec.version)
    return pins


def _kit_ranges() -> dict[str, SpecifierSet]:
    reqs = (Requirement(r) for r in PYPROJECT["project"]["dependencies"])
    return {r.name.lower(): r.specifier for r in reqs}


def test_binder_folder_holds_only_what_repo2docker_should_use():
    names = {p.name for p in BINDER.iterdir()}
    assert {"requirements.txt", "runtime.txt"} <= names
    assert not names & set(OVERRIDES), f"{names & set(OVERRIDES)} would replace requirements.txt"
    assert not (ROOT / ".binder").exists(), ".binder/ would take precedence over binder/"
    for script in ("postBuild", "start"):
        if (BINDER / script).exists():  # runs at build or at every launch: must not download
            assert not NETWORK.search((BINDER / script).read_text()), f"binder/{script} downloads"


def test_torch_comes_from_the_cpu_index_pinned_inside_the_kits_ranges():
    lines, pins, ranges = _requirements(), _pins(), _kit_ranges()
    assert f"--extra-index-url {CPU_INDEX}" in lines
    assert {"torch", "torchvision"} <= set(pins)
    for name, version in pins.items():
        if name in ("torch", "torchvision"):
            assert version.local == "cpu", f"{name} {version} is not a +cpu build: CUDA is GBs"
        if name in ranges:
            assert ranges[name].contains(version), f"{name} {version} is outside {ranges[name]}"
    torch_v, vision_v = pins["torch"], pins["torchvision"]
    # torchvision 0.(N + 15) is built against torch 2.N (0.17 <-> 2.2, ..., 0.20 <-> 2.5)
    assert (vision_v.major, vision_v.minor) == (0, torch_v.minor + 15), (torch_v, vision_v)
    assert not any(n.startswith("nvidia") for n in pins), "no CUDA libraries on Binder"


def test_binder_runs_the_pytorch_the_tests_run_on():
    """Binder's pins name the torch and torchvision this test suite has just used."""
    pins = _pins()
    for name in ("torch", "torchvision"):
        tested = Version(importlib.metadata.version(name))  # e.g. 2.14.1+cu130 or 2.14.1
        assert pins[name].public == tested.public, (
            f"binder/requirements.txt pins {name} {pins[name]} but the tests run {tested}: "
            f"pin {name}=={tested.public}+cpu so Binder runs what CI tests"
        )


def test_teaching_guide_lists_binders_pins():
    guide = (ROOT / "docs" / "teaching.md").read_text()
    pins = _pins()
    assert f"torch {pins['torch']}, torchvision {pins['torchvision']}" in guide


def test_the_kit_itself_is_installed_and_python_is_pinned():
    assert "." in _requirements(), "binder/requirements.txt must install the kit with a '.' line"
    runtime = (BINDER / "runtime.txt").read_text().strip()
    match = re.fullmatch(r"python-(3\.\d+)", runtime)
    assert match, f"runtime.txt should read like 'python-3.11', got {runtime!r}"
    assert SpecifierSet(PYPROJECT["project"]["requires-python"]).contains(match[1] + ".0")
    tested = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert match[1] == tested, f"Binder runs Python {match[1]}, the tests {tested}: pin {tested}"


def _package_files() -> set[str]:
    skip = {"__pycache__"}
    files = (ROOT / "xmlab").rglob("*")
    return {
        p.relative_to(ROOT).as_posix()
        for p in files
        if p.is_file() and not skip & set(p.parts) and p.suffix != ".pyc"
    }


def test_installed_package_ships_every_file_of_the_kit(kit_wheel):
    """What Colab and Binder get from ``pip install``: every module and data file of xmlab/."""
    wheel, _ = kit_wheel
    shipped = set(zipfile.ZipFile(wheel).namelist())
    expected = _package_files()
    assert any("/assets/" in name for name in expected), "the kit's shipped data is missing"
    assert not expected - shipped, f"not in the installed package: {sorted(expected - shipped)}"


def test_package_metadata_builds_without_deprecations(kit_wheel):
    """PEP 639 licence, version and URLs from xmlab/release.py, no setuptools deprecation."""
    wheel, log = kit_wheel
    assert "SetuptoolsDeprecationWarning" not in log, log[log.find("Deprecation") - 500 :][:2000]
    names = zipfile.ZipFile(wheel).namelist()
    meta = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("/METADATA")))
    meta = meta.decode()
    assert "License-Expression: MIT" in meta
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert f"Version: {release.__version__}\n" in meta
    for key, url in release.project_urls().items():
        assert f"Project-URL: {key}, {url}" in meta
    (setuptools,) = (Requirement(r) for r in PYPROJECT["build-system"]["requires"])
    assert not setuptools.specifier.contains("76.1")  # the first with PEP 639's licence is 77


def test_floors_admit_only_versions_that_have_what_the_kit_uses():
    ranges = _kit_ranges()
    # torch.amp.GradScaler(device) arrived in torch 2.3, built with torchvision 0.18
    assert any("torch.amp.GradScaler(" in p.read_text() for p in (ROOT / "xmlab").rglob("*.py"))
    assert not ranges["torch"].contains("2.2.2") and ranges["torch"].contains("2.3.0")
    assert not ranges["torchvision"].contains("0.17.2") and ranges["torchvision"].contains("0.18.0")
    # ruff from one minor version only: a new minor may format the same code differently
    test_extra = (Requirement(r) for r in PYPROJECT["project"]["optional-dependencies"]["test"])
    ruff = next(r.specifier for r in test_extra if r.name == "ruff")
    installed = Version(importlib.metadata.version("ruff"))
    assert ruff.contains(installed)
    assert not ruff.contains(f"{installed.major}.{installed.minor + 1}.0")
    assert not ruff.contains(f"{installed.major}.{installed.minor - 1}.99")


def test_widgets_use_only_what_colabs_widget_manager_renders():
    sources = [p.read_text() for p in (ROOT / "xmlab").rglob("*.py")]
    sources += ["\n".join(c.source for c in nbformat.read(p, 4).cells) for p in COURSE]
    assert not [m for s in sources for m in COLAB_UNSAFE.findall(s)]


def _colab_cell(nb) -> str:
    return next(c.source for c in nb.cells if c.cell_type == "code")


def _run_install_cell(source: str, monkeypatch, *, on_colab: bool) -> list[str]:
    """Execute the cell's Python (magics included) and return every command it tried to run."""
    calls = []
    shell = types.SimpleNamespace(
        run_line_magic=lambda name, line: calls.append(f"%{name} {line}"),
        system=lambda cmd: calls.append(f"!{cmd}"),
    )
    for name in ("run", "check_call", "call", "Popen"):
        monkeypatch.setattr(subprocess, name, lambda cmd, *a, **k: calls.append(str(cmd)))
    monkeypatch.setattr("os.system", lambda cmd: calls.append(str(cmd)))
    if on_colab:
        monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    else:
        monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    code = TransformerManager().transform_cell(source)
    exec(compile(code, "install cell", "exec"), {"get_ipython": lambda: shell})
    return calls


@pytest.mark.parametrize("path", COURSE, ids=[p.name for p in COURSE])
def test_course_notebook_opens_on_colab_and_binder(path, monkeypatch):
    nb = nbformat.read(path, as_version=4)
    first = nb.cells[0]
    colab = release.colab_url(f"notebooks/{path.name}")
    assert first.cell_type == "markdown" and colab in first.source, "Colab badge missing"
    assert any("parameters" in c.metadata.get("tags", []) for c in nb.cells)
    install = _colab_cell(nb)
    assert _run_install_cell(install, monkeypatch, on_colab=False) == []
    (command,) = _run_install_cell(install, monkeypatch, on_colab=True)
    extras = tuple(nb.metadata.get("xmlab", {}).get("extras", ()))  # e.g. 08: ("pretrained",)
    assert "pip" in command and f'"{release.requirement(extras)}"' in command  # the release
    for cell in nb.cells[1:]:
        if cell.cell_type == "code" and cell.source != install:
            assert not NETWORK.search(cell.source), f"needs the network:\n{cell.source}"
