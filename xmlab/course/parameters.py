"""A notebook's parameters: the names its ``parameters`` cell sets.

``xmlab run -p epochs 3`` and ``xmlab sweep NOTEBOOK -p lr ...`` hand values to papermill,
which adds them to a notebook whether or not the notebook reads them: a misspelt name
(``-p epochz 3``) would run with the default and look like a result. Reading the cell tagged
``parameters`` lets the runner refuse such a name and list the ones the notebook has.

Explained in: notebooks/10_capstone.ipynb
"""

from __future__ import annotations

import ast
import difflib
import json
import os
import re
from collections.abc import Iterable
from pathlib import Path

_ASSIGNED = re.compile(r"^([A-Za-z_]\w*)\s*(?::[^=]*)?=(?!=)", re.MULTILINE)


def notebook_parameters(path: str | os.PathLike) -> list[str] | None:
    """The names the ``parameters`` cell of a notebook assigns, in order; ``None`` when the
    notebook has no cell tagged ``parameters``."""
    path = Path(path)
    try:
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ValueError(
            f"cannot read the notebook {path} ({type(err).__name__}: {err}), expected an "
            ".ipynb file: check the path, or open and save it in Jupyter to repair it"
        ) from err
    for cell in cells:
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            source = "".join(cell.get("source", []))
            return list(dict.fromkeys(_assigned_names(source)))
    return None


def _assigned_names(source: str) -> list[str]:
    """Names bound at the top level of ``source`` (lines of IPython magic are skipped)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:  # e.g. a %magic line: read the assignments line by line
        return _ASSIGNED.findall(source)
    names = []
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
        for target in targets:
            elements = target.elts if isinstance(target, ast.Tuple) else [target]
            names += [e.id for e in elements if isinstance(e, ast.Name)]
    return names


def check_parameters(names: Iterable[str], notebooks: Iterable[str | os.PathLike]) -> None:
    """Raise a ``ValueError`` for any name that none of ``notebooks`` has as a parameter,
    listing the parameters they have (and the closest match). With no names, no notebook is
    read: a damaged one is then reported by its own execution, not before the run."""
    names = list(names)
    if not names:
        return
    notebooks = [Path(nb) for nb in notebooks]
    known = {nb.name: notebook_parameters(nb) for nb in notebooks}
    everything = list(dict.fromkeys(n for names_ in known.values() for n in names_ or []))
    unknown = [name for name in names if name not in everything]
    if not unknown:
        return
    n = len(notebooks)
    which = f"{notebooks[0].name} has no" if n == 1 else f"none of the {n} notebooks has a"
    close = difflib.get_close_matches(unknown[0], everything, n=1)
    raise ValueError(
        f"unknown parameter {unknown[0]!r}: {which} parameter of that name (expected one"
        f" of {', '.join(everything) or 'none: no cell is tagged parameters'}); "
        + (f"did you mean {close[0]!r}?" if close else "check the spelling")
    )
