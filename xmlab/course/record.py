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
_memory: dict[str, object] = {}


def record(name: str, value):
    """Remember ``value`` under ``name`` (a number or a short string) and return it."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"a metric needs a non-empty name, got {name!r}")
    if hasattr(value, "item"):  # a 0-d tensor or numpy scalar
        value = value.item()
    if not isinstance(value, (int, float, str, bool)):
        raise TypeError(
            f"record {name!r}: expected a number or a string, got {type(value).__name__}"
        )
    if isinstance(value, float) and not math.isfinite(value):
        value = str(value)  # JSON has no NaN
    _memory[name] = value
    path = os.environ.get(ENV_VAR)
    if path:
        with Path(path).open("a", encoding="utf-8") as f:
            f.write(json.dumps({"name": name, "value": value}) + "\n")
    return value


def recorded() -> dict[str, object]:
    """Everything recorded so far in this Python process."""
    return dict(_memory)


def read_records(path: str | os.PathLike) -> dict[str, object]:
    """The metrics in a record file (later values of a name win); empty if there is none."""
    path = Path(path)
    if not path.exists():
        return {}
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            out[row["name"]] = row["value"]
    return out
