"""Fresh virtual environments for install tests, holding chosen packages of the test environment.

Copying the test environment's PyTorch into each new environment would cost minutes (gigabytes
with CUDA). Instead, a fresh environment gets one extra site folder holding symlinks to the files
of chosen distributions of this environment (``torch`` and everything it requires, say) and
nothing else: pip, run with the new environment's python, sees them installed; whatever else an
install needs comes from the package index, as it would for a student. :func:`versions` lets a
test assert afterwards that pip kept what was provided.
"""

from __future__ import annotations

import importlib.metadata as md
import json
import os
import subprocess
import sys
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

PIP_TIMEOUT_S = 1200  # a cold pip cache downloads a few hundred MB


def closure(names: list[str], *, without: tuple[str, ...] = ()) -> dict[str, md.Distribution]:
    """The installed distributions ``names`` and every installed distribution they require.

    Requirements whose markers do not hold here are skipped, extras are followed, and the names
    in ``without`` (and what only they require) are left out.
    """
    todo = [Requirement(name) for name in names]
    skip = {canonicalize_name(n) for n in without}
    found: dict[str, md.Distribution] = {}
    while todo:
        req = todo.pop()
        key = canonicalize_name(req.name)
        if key in skip or key in found:
            continue
        found[key] = dist = md.distribution(req.name)
        for line in dist.requires or []:
            sub = Requirement(line)
            extras = [{"extra": e} for e in req.extras] or [{"extra": ""}]
            if sub.marker is None or any(sub.marker.evaluate(env) for env in extras):
                todo.append(sub)
    return found


def top_level_entries(dist: md.Distribution) -> set[str]:
    """The files and folders a distribution put directly in its site folder."""
    parts = (Path(str(f)).parts for f in dist.files or [])
    return {p[0] for p in parts if p and p[0] not in ("..", "__pycache__")}


def link_distributions(dists: dict[str, md.Distribution], folder: Path) -> None:
    """Symlink each distribution's top-level files and folders (metadata included) into folder."""
    folder.mkdir(parents=True)
    for dist in dists.values():
        for entry in top_level_entries(dist):
            link = folder / entry
            if not link.exists():  # namespace folders such as nvidia/ are shared
                link.symlink_to(Path(dist.locate_file(entry)).resolve())


def fresh_venv(path: Path, provided: dict[str, md.Distribution]) -> Path:
    """A new virtual environment at ``path`` that sees ``provided``; returns its python.

    It is made without pip (:func:`pip` runs this environment's pip for it), and a ``.pth`` file
    adds the folder of symlinks as a site folder, after its own site-packages.
    """
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
    python = path / "bin" / "python"
    site = Path(run_python(python, "import sysconfig; print(sysconfig.get_path('purelib'))"))
    link_distributions(provided, path / "provided")
    line = f"import site; site.addsitedir({str(path / 'provided')!r})\n"
    (site / "_provided.pth").write_text(line)
    return python


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without what would leak the test environment into another."""
    drop = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    return {**env, **extra}


def run_python(python: Path, code: str) -> str:
    """Run ``code`` with ``python`` from its environment's folder (``-c`` puts the current folder
    first on the path, and a source checkout there would shadow the installed kit)."""
    done = subprocess.run(
        [str(python), "-c", code], capture_output=True, text=True, env=clean_env(),
        cwd=python.parent.parent,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip()


def pip(python: Path, *args: str) -> str:
    """Run pip (this environment's) on the environment of ``python``; returns its output."""
    command = [sys.executable, "-m", "pip", "--python", str(python), "--no-input", *args]
    done = subprocess.run(
        command, capture_output=True, text=True, env=clean_env(), timeout=PIP_TIMEOUT_S,
        cwd=python.parent.parent,
    )  # fmt: skip
    assert done.returncode == 0, f"pip {' '.join(args)} failed:\n{done.stdout[-3000:]}"
    return done.stdout + done.stderr


def versions(python: Path) -> dict[str, tuple[str, str]]:
    """Every distribution the environment of ``python`` sees: name -> (version, location)."""
    code = """import importlib.metadata as md, json, re
seen = {}  # the first of two copies is the one imported
for d in md.distributions():
    name = re.sub(r"[-_.]+", "-", d.metadata["Name"]).lower()
    seen.setdefault(name, (d.version, str(d.locate_file(""))))
print(json.dumps(seen))"""
    return json.loads(run_python(python, code))
