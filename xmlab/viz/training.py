"""Figures of the optimisation step: training curves, schedules, the learning-rate range test,
and optimisers walking on a toy loss surface.

Every function takes ``ax=None`` (draws into a new figure when not given) and returns what it
drew on; none calls ``plt.show()``.

Explained in: notebooks/00_welcome.ipynb and notebooks/04_optimization.ipynb
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import torch

from xmlab.train.optim import schedule_curve


def plot_history(history, ax=None, *, key: str = "loss"):
    """``key`` of a ``xm.train.History`` per step, and per epoch when recorded there; returns
    the axes."""
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3))
    steps = [r for r in history.steps if key in r]
    ax.plot([r["step"] for r in steps], [r[key] for r in steps], lw=1, label=f"{key} per step")
    ends = [r for r in history.epochs if key in r]
    if ends:
        last_step = {r["epoch"]: r["step"] for r in history.steps}  # where each epoch ended
        xs = [last_step.get(r["epoch"], r["epoch"]) for r in ends]
        ax.plot(xs, [r[key] for r in ends], "o-", label=f"{key} per epoch")
    ax.set(xlabel="step", ylabel=key)
    ax.legend()
    return ax


def plot_training(history, ax=None, *, metrics: Sequence[str] = ()):
    """Loss per step and per epoch, with epoch metrics (e.g. a validation R@1) on a second
    axis; returns the figure."""
    ax = plot_history(history, ax=ax, key="loss")
    steps_per_epoch = len(history.steps) / max(len(history.epochs), 1)
    if metrics:
        twin = ax.twinx()
        for i, name in enumerate(metrics):
            rows = [r for r in history.epochs if name in r]
            if not rows:
                raise KeyError(f"{name!r} is not in the epoch rows: {sorted(history.keys())}")
            xs = [r["epoch"] * steps_per_epoch for r in rows]
            twin.plot(xs, [r[name] for r in rows], "s--", color=f"C{i + 2}", label=name)
        twin.set_ylabel(", ".join(metrics))
        twin.legend(loc="center right", fontsize=8)
    ax.set_title("training history")
    return ax.figure


def plot_schedule(config, *, total_steps: int, ax=None, label: str | None = None):
    """Draw the learning rate per step of a ``xm.train.TrainConfig`` before training; returns
    the axes."""
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3))
    label = label or f"{config.schedule} (warmup {config.warmup_steps})"
    ax.plot(range(1, total_steps + 1), schedule_curve(config, total_steps=total_steps), label=label)
    ax.set(xlabel="step", ylabel="learning rate")
    ax.legend()
    return ax


def plot_lr_range(result: dict, ax=None):
    """The loss against the learning rate of ``xm.train.lr_range_test`` (log axis); returns the
    axes."""
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3))
    ax.semilogx(result["lr"], result["loss"], label="smoothed loss")
    ax.axvline(result["suggested"], color="k", ls="--", lw=1, label="suggested")
    ax.set(xlabel="learning rate", ylabel="loss")
    ax.legend()
    return ax


def plot_descent(fn, paths: dict[str, torch.Tensor], *, xlim=(-2, 2), ylim=(-1, 1), ax=None):
    """Contours of ``fn`` (e.g. ``xm.train.ravine``) with each named optimiser path (from
    ``xm.train.descend``) drawn over them; returns the axes."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    xs, ys = torch.linspace(*xlim, 200), torch.linspace(*ylim, 200)
    grid = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), -1)  # (200, 200, 2)
    ax.contour(xs, ys, torch.log1p(fn(grid)).numpy(), levels=20, cmap="Greys", linewidths=0.7)
    for name, path in paths.items():
        ax.plot(path[:, 0], path[:, 1], ".-", ms=3, lw=1, label=name)
    ax.set(xlim=xlim, ylim=ylim, xlabel="x", ylabel="y")
    ax.legend(fontsize=8)
    return ax
