"""The figure of a parameter sweep: a recorded metric against a swept parameter.

Explained in: notebooks/10_capstone.ipynb
"""

from __future__ import annotations

import matplotlib.pyplot as plt


def plot_sweep(rows: list[dict], *, metric: str, x: str, hue: str | None = None, ax=None):
    """``metric`` against parameter ``x``, one line per value of parameter ``hue``.

    Failed runs are left out. A log axis is used when ``x`` spans a factor of 10 or more.
    Returns the axes.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.2))
    ok = [r for r in rows if r["status"] == "ok" and isinstance(r.get(metric), (int, float))]
    for value in dict.fromkeys(r[hue] for r in ok) if hue else [None]:
        line = sorted((r[x], r[metric]) for r in ok if hue is None or r[hue] == value)
        ax.plot(*zip(*line), "o-", label=None if hue is None else f"{hue}={value}")
    xs = [r[x] for r in ok]
    if xs and all(isinstance(v, (int, float)) and v > 0 for v in xs) and max(xs) >= 10 * min(xs):
        ax.set_xscale("log")
    ax.set(xlabel=x, ylabel=metric, title=f"{metric} over {len(ok)} runs")
    if hue and ok:
        ax.legend(fontsize=8)
    return ax
