"""Classroom defaults, and lighter values for the test suite where a notebook needs them.

A notebook's ``parameters`` cell holds the values a class runs (``make run``, JupyterLab, Binder,
Colab). When one of them would make the notebook too slow for the test suite, the cell says so::

    epochs = xm.classroom.default(8, ci=2)  # 8 in class, 2 under `make test`

``make test`` sets ``XMLAB_CI_LIGHT=1``; everywhere else the classroom value is used.

Explained in: docs/teaching.md
"""

from __future__ import annotations

import os

ENV_VAR = "XMLAB_CI_LIGHT"
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"", "0", "false", "no", "off"}


def light() -> bool:
    """Whether the lighter test-suite values are asked for (``XMLAB_CI_LIGHT=1``)."""
    value = os.environ.get(ENV_VAR, "").strip().lower()
    if value not in _TRUE | _FALSE:
        raise ValueError(
            f"{ENV_VAR}={os.environ[ENV_VAR]!r} is not understood: set it to 1 for the lighter "
            "test-suite values, or to 0 (or leave it unset) for the classroom defaults"
        )
    return value in _TRUE


def default(classroom, *, ci):
    """``classroom`` normally, ``ci`` when ``XMLAB_CI_LIGHT=1`` (set by ``make test``).

    Args:
        classroom: the value a class runs with.
        ci: a lighter value of the same type, enough for the notebook's checks to hold.
    """
    if type(classroom) is not type(ci):
        raise TypeError(
            f"the classroom value {classroom!r} and the CI value {ci!r} have different types "
            f"({type(classroom).__name__} and {type(ci).__name__}): give both the same type"
        )
    return ci if light() else classroom
