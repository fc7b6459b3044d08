"""Point every link and install cell of the repository at the release named in xmlab/release.py.

    python tools/release_links.py           # rewrite what differs, list the files it changed
    python tools/release_links.py --check   # change nothing; exit 1 and list what differs

It rewrites: each notebook under notebooks/ (student copies and experiments included) whose first
markdown cell has Colab/Binder badges (they then open that very notebook) or that has a Colab
install cell; the Colab and Binder links of README.md and docs/teaching.md; and the
``[project.urls]`` table of pyproject.toml. The version in pyproject.toml is read from
xmlab/release.py by setuptools, so it needs no rewriting.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import sys
from collections.abc import Callable
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
TEXT_FILES = ("README.md", "docs/teaching.md")
URLS_TABLE = re.compile(r"^\[project\.urls\]\n(?:[^\[\n].*\n)*", re.MULTILINE)


def load_release(root: Path = ROOT):
    """xmlab/release.py as a module, loaded from its file (importing xmlab would import torch)."""
    spec = importlib.util.spec_from_file_location("xmlab_release", root / "xmlab" / "release.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def notebook_text(path: Path, root: Path, release) -> str:
    nb = nbformat.read(path, as_version=4)
    release.update_notebook(nb, path.relative_to(root).as_posix())
    return nbformat.writes(nb) + "\n"


def pyproject_text(path: Path, release) -> str:
    text = path.read_text()
    lines = [f'{key} = "{url}"' for key, url in release.project_urls().items()]
    table = "[project.urls]\n" + "\n".join(lines) + "\n"
    if not URLS_TABLE.search(text):
        raise ValueError(f"{path} has no [project.urls] table to rewrite: add one")
    return URLS_TABLE.sub(lambda _: table, text, count=1)


def expected_files(root: Path = ROOT, release=None) -> dict[Path, Callable[[], str]]:
    """Each file the release's links live in, with a function giving its expected text."""
    release = release or load_release(root)
    files: dict[Path, Callable[[], str]] = {}
    for path in sorted((root / "notebooks").rglob("*.ipynb")):
        if ".ipynb_checkpoints" not in path.parts:
            files[path] = lambda p=path: notebook_text(p, root, release)
    for name in TEXT_FILES:
        files[root / name] = lambda p=root / name: release.relink(p.read_text())
    files[root / "pyproject.toml"] = lambda: pyproject_text(root / "pyproject.toml", release)
    return files


def drifted(root: Path = ROOT, release=None) -> dict[Path, str]:
    """The files whose text differs from what the release makes of them, with that text."""
    expected = {path: text() for path, text in expected_files(root, release).items()}
    return {path: text for path, text in expected.items() if path.read_text() != text}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report files that differ")
    args = parser.parse_args(argv)
    release = load_release(ROOT)
    changes = drifted(ROOT, release)
    for path, text in changes.items():
        print(path.relative_to(ROOT))
        if not args.check:
            path.write_text(text)
    if args.check and changes:
        print(f"{len(changes)} file(s) do not point at {release.REPOSITORY} {release.tag()}: "
              "run python tools/release_links.py", file=sys.stderr)  # fmt: skip
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
