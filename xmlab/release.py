"""The kit's release in one place: its version and the repository it lives in.

Every version and every link to the repository is derived from the two lines below: the Colab
and Binder badges and the Colab install cell of every notebook, the README's badges, the
instructor guide's links and pip command, ``pyproject.toml``'s version and project URLs, and the
address a sweep fetches its experiment notebook from on Colab. Links name the release's git tag
(``v0.1.0``), so a notebook opened from a badge and the kit its install cell installs are the
same release.

After changing a line here, ``python tools/release_links.py`` rewrites the files that carry
them, and ``tests/test_release.py`` fails while one of them still differs. A fork changes
``REPOSITORY``; a new release changes ``__version__`` and is then tagged ``v<version>``.

Explained in: docs/teaching.md (running a class)
"""

from __future__ import annotations

import re

__version__ = "0.1.0"  # the release; its git tag is "v" followed by this
REPOSITORY = "https://github.com/xmlab-org/xmlab"  # the kit's GitHub repository

GITHUB = re.compile(r"https://github\.com/(?P<owner>[\w.-]+)/(?P<name>[\w.-]+)")
INSTALL_CELL = """\
# Installs the kit when this notebook runs on Google Colab; does nothing anywhere else.
import sys

if "google.colab" in sys.modules:
    %pip install -q "{requirement}"
"""


def tag() -> str:
    """The release's git tag, e.g. ``"v0.1.0"``: what badges and the install cell point at."""
    return f"v{__version__}"


def github() -> tuple[str, str]:
    """The repository's owner and name, e.g. ``("xmlab-org", "xmlab")``."""
    match = GITHUB.fullmatch(REPOSITORY)
    if not match:
        raise ValueError(
            f"REPOSITORY should read like https://github.com/OWNER/NAME, got {REPOSITORY!r}: "
            "Colab and Binder open notebooks from GitHub repositories"
        )
    return match["owner"], match["name"]


def raw_url(path: str = "") -> str:
    """The file at ``path`` (relative to the repository root) in the release, as raw bytes."""
    owner, name = github()
    return f"https://raw.githubusercontent.com/{owner}/{name}/{tag()}/{path}"


def colab_url(path: str) -> str:
    """The link that opens the notebook at ``path`` of the release on Colab."""
    owner, name = github()
    return f"https://colab.research.google.com/github/{owner}/{name}/blob/{tag()}/{path}"


def binder_url(path: str = "notebooks") -> str:
    """The link that opens ``path`` (a notebook or a folder) of the release on mybinder.org."""
    owner, name = github()
    return f"https://mybinder.org/v2/gh/{owner}/{name}/{tag()}?urlpath=lab/tree/{path}"


def requirement(extras: tuple[str, ...] = ()) -> str:
    """What ``pip install`` gets the release from, e.g. ``xmlab @ git+https://...@v0.1.0``
    (``xmlab[pretrained] @ ...`` with ``extras=("pretrained",)``)."""
    name = f"xmlab[{','.join(extras)}]" if extras else "xmlab"
    return f"{name} @ git+{REPOSITORY}@{tag()}"


def project_urls() -> dict[str, str]:
    """``pyproject.toml``'s ``[project.urls]``: where the source, issues and docs are."""
    return {
        "Source": REPOSITORY,
        "Issues": f"{REPOSITORY}/issues",
        "Documentation": f"{REPOSITORY}/blob/{tag()}/docs/teaching.md",
    }


def install_cell(extras: tuple[str, ...] = ()) -> str:
    """The source of every notebook's first code cell: install the release on Colab only, with
    the optional ``extras`` the notebook lists in its metadata (``xmlab.extras``)."""
    return INSTALL_CELL.format(requirement=requirement(tuple(extras))).rstrip("\n")


# Links in any text: the path they open follows the fixed part; owner, name and ref are replaced
COLAB_LINK = re.compile(r"https://colab\.research\.google\.com/github/[^/\s)]+/[^/\s)]+/blob/"
                        r"[^/\s)]+/(?P<path>[^\s)\"'`]+)")  # fmt: skip
BINDER_LINK = re.compile(r"https://mybinder\.org/v2/gh/[^/\s)]+/[^/\s)]+/[^?\s)]+"
                         r"\?urlpath=lab/tree/(?P<path>[^\s)\"'`]+)")  # fmt: skip
PIP_LINK = re.compile(r"git\+https://github\.com/[\w.-]+/[\w-]+(?:\.git)?(?:@[\w.-]*\w)?")


def relink(text: str, *, path: str | None = None) -> str:
    """``text`` with every Colab and Binder link and ``git+`` requirement naming the release.

    Args:
        text: markdown or any text holding such links.
        path: when given, every link opens this file (a notebook's own path, so a copy of a
            notebook under ``notebooks/student/`` links to itself); else each keeps its path.
    """
    text = PIP_LINK.sub(lambda _: f"git+{REPOSITORY}@{tag()}", text)
    text = COLAB_LINK.sub(lambda m: colab_url(path or m["path"]), text)
    return BINDER_LINK.sub(lambda m: binder_url(path or m["path"]), text)


def is_install_cell(source: str) -> bool:
    """Whether a code cell is a notebook's Colab install cell."""
    return "google.colab" in source and "pip install" in source


def update_notebook(nb, path: str) -> bool:
    """Point notebook ``nb``'s links and its install cell at the release; True if any changed.

    Args:
        nb: an ``nbformat`` notebook, changed in place.
        path: where the notebook lies in the repository, e.g. ``"notebooks/00_welcome.ipynb"``:
            the badges of its first markdown cell that has any open this file; other links keep
            their path. The first code cell that installs the kit on Colab gets the release's
            install cell, with the extras of the notebook's ``xmlab.extras`` metadata. A notebook
            without badges or install cell keeps what it has.
    """
    before = [cell.source for cell in nb.cells]
    markdown = [cell for cell in nb.cells if cell.cell_type == "markdown"]
    badges = next((cell for cell in markdown if COLAB_LINK.search(cell.source)), None)
    for cell in markdown:
        cell.source = relink(cell.source, path=path if cell is badges else None)
    code = (cell for cell in nb.cells if cell.cell_type == "code")
    install = next((cell for cell in code if is_install_cell(cell.source)), None)
    if install is not None:
        install.source = install_cell(tuple(nb.metadata.get("xmlab", {}).get("extras", ())))
    return [cell.source for cell in nb.cells] != before
