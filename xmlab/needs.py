"""What a notebook needs beyond the kit (real data sets, optional extras), and whether it is here.

Most lessons learn on data the kit makes, which is always there. A lesson on real data declares
what it needs in the notebook's metadata::

    {"metadata": {"xmlab": {"needs": ["fsdd", "fashion-mnist"]}}}

:func:`skip_reason` reads that list and returns why the notebook cannot run on this machine, or
``None`` when everything is here. ``xmlab run`` reports such a notebook as *skipped* with the
reason, and ``make test`` as a pytest skip with the reason (``conftest.py`` at the repository
root): a notebook whose data is missing never passes silently. Inside a notebook, a section that
needs an optional extra asks :func:`why_missing` and says why it does not run.

Checking a data set *obtains* it, as the notebook would: from the cache, the classroom mirror
``$XMLAB_MIRROR`` or the internet (``xmlab/data/cache.py``); the first check on a machine that is
online downloads it, later checks read the cache.

Explained in: docs/teaching.md and notebooks/08_real_data.ipynb
"""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path

from xmlab.data import download
from xmlab.encoders.pretrained import INSTALL_HINT, MINILM_PACKAGE


def _get(files: Callable[[], object]) -> str | None:
    """``None`` when ``files()`` obtains its files, else what went wrong and what to do."""
    try:
        files()
    except (download.DataUnavailableError, download.ChecksumError) as err:
        return str(err)
    return None


def _pretrained() -> str | None:
    absent = [m for m in ("transformers", MINILM_PACKAGE) if importlib.util.find_spec(m) is None]
    return f"{' and '.join(absent)} not installed: {INSTALL_HINT}" if absent else None


NEEDS: dict[str, Callable[[], str | None]] = {
    "fsdd": lambda: _get(lambda: download.ensure_file(download.FSDD, "fsdd")),
    "mnist": lambda: _get(
        lambda: [download.ensure_file(r, "mnist") for r in download.MNIST.values()]
    ),
    "fashion-mnist": lambda: _get(
        lambda: [download.fashion_mnist_files(split) for split in ("train", "test")]
    ),
    "pretrained": _pretrained,
}


def why_missing(need: str) -> str | None:
    """Why ``need`` (a key of :data:`NEEDS`) is not available here, or ``None`` if it is."""
    if need not in NEEDS:
        raise ValueError(f"unknown need {need!r}: a notebook can need any of {sorted(NEEDS)}")
    return NEEDS[need]()


def missing(needs: Iterable[str]) -> dict[str, str]:
    """Each of ``needs`` that is not available here, with the reason."""
    reasons = {need: why_missing(need) for need in needs}
    return {need: reason for need, reason in reasons.items() if reason is not None}


def notebook_needs(notebook: str | os.PathLike) -> list[str]:
    """The needs a notebook declares in ``metadata.xmlab.needs`` (none: ``[]``)."""
    path = Path(notebook)
    try:
        metadata = json.loads(path.read_text(encoding="utf-8")).get("metadata", {})
    except (OSError, ValueError) as err:
        raise ValueError(f"cannot read the notebook {path}: {err}") from err
    needs = metadata.get("xmlab", {}).get("needs", [])
    if not isinstance(needs, list) or not all(isinstance(n, str) for n in needs):
        raise ValueError(
            f"{path.name}: metadata.xmlab.needs must be a list of names like ['fsdd'], "
            f"got {needs!r}"
        )
    return needs


def skip_reason(notebook: str | os.PathLike) -> str | None:
    """Why ``notebook`` cannot run here (``"needs fsdd: ..."``), or ``None`` when it can."""
    absent = missing(notebook_needs(notebook))
    if not absent:
        return None
    return "; ".join(f"needs {need}: {reason}" for need, reason in absent.items())
