"""Record a notebook's key figures so ``xmlab run`` can put them in its summary.

``xm.record("image_to_text_R@1", 0.93)`` returns the value. When the notebook is executed by
``xmlab run``, the runner sets ``XMLAB_RECORD_FILE`` and each call appends one JSON line to that
file; in JupyterLab the value is only kept in memory (see :func:`recorded`).

Explained in: notebooks/00_welcome.ipynb
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

ENV_VAR = "XMLAB_RECORD_FILE"
MAX_TEXT = 200  # characters of a recorded string: it is one cell of the summary table
_memory: dict[str, object] = {}


def record(name: str, value):
    """Remember ``value`` under ``name`` (a finite number or a short string) and return it."""
    if not isinstance(name, str) or not name or len(name) > MAX_TEXT:
        raise ValueError(
            f"a metric needs a short non-empty name (a str), got {name!r:.60}: e.g. "
            'xm.record("image_to_text_R@1", r1)'
        )
    if _one(value):
        value = value.item()  # a one-element tensor or NumPy array, or a NumPy scalar
    if not isinstance(value, (int, float, str, bool)):
        raise TypeError(
            f"record {name!r}: expected a number or a string, got {type(value).__name__}: "
            "record one value per name, e.g. float(x)"
        )
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(
            f"record {name!r}: the value is {value}, expected a finite number: the computation "
            "behind it went wrong (a diverged training run?); fix it, or record a string"
        )
    if isinstance(value, str) and len(value) > MAX_TEXT:
        raise ValueError(
            f"record {name!r}: a string of {len(value)} characters, expected at most "
            f"{MAX_TEXT} (it becomes one cell of the summary table): record a short label"
        )
    _memory[name] = value
    path = os.environ.get(ENV_VAR)
    if path:
        with Path(path).open("a", encoding="utf-8") as f:
            f.write(json.dumps({"name": name, "value": value}) + "\n")
    return value


def _one(value) -> bool:
    """A tensor or NumPy value of one element, which ``.item()`` turns into a number."""
    size = value.numel() if hasattr(value, "numel") else getattr(value, "size", None)
    return hasattr(value, "item") and size == 1


def recorded() -> dict[str, object]:
    """Everything recorded so far in this Python process."""
    return dict(_memory)


def read_records(path: str | os.PathLike, *, problems: list | None = None) -> dict[str, object]:
    """The metrics in a record file (later values of a name win); empty if there is none.

    A line that is not a record (half-written when a notebook was killed, or edited by hand)
    is skipped, and described in ``problems`` when a list is given.
    """
    path = Path(path)
    if not path.exists():
        return {}
    out = {}
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            out[row["name"]] = row["value"]
        except (ValueError, KeyError, TypeError) as err:
            if problems is not None:
                problems.append(
                    f"{path.name} line {number} is not a record ({type(err).__name__}), "
                    f"skipped: {line[:60]!r}"
                )
    return out
