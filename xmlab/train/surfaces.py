"""Toy loss surfaces of two variables, to watch an optimiser walk before training a network.

A ravine (steep across, flat along) shows why plain gradient descent zig-zags and momentum
helps; Rosenbrock's curved valley shows why adaptive steps (Adam) help. ``descend`` records the
points an optimiser of ``xmlab/train/optim.py`` visits; ``xm.viz.plot_descent`` draws them.

Explained in: notebooks/04_optimization.ipynb
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from xmlab.train.optim import make_optimizer


def ravine(p: torch.Tensor) -> torch.Tensor:
    """A long narrow valley, ``0.5 * (x**2 + 25 * y**2)``: steep across, flat along (min 0, 0)."""
    return 0.5 * (p[..., 0] ** 2 + 25 * p[..., 1] ** 2)


def rosenbrock(p: torch.Tensor) -> torch.Tensor:
    """Rosenbrock's curved valley ``(1 - x)**2 + 100 (y - x**2)**2`` (min at 1, 1)."""
    return (1 - p[..., 0]) ** 2 + 100 * (p[..., 1] - p[..., 0] ** 2) ** 2


def descend(
    fn: Callable[[torch.Tensor], torch.Tensor],
    start: tuple[float, float],
    *,
    optimizer: str = "sgd",
    lr: float = 0.01,
    steps: int = 100,
    momentum: float = 0.0,
) -> torch.Tensor:
    """The points an optimiser visits minimising a function of two variables.

    Returns:
        A ``(steps + 1, 2)`` tensor: the start, then the point after each step.
    """
    point = nn.Parameter(torch.tensor(start, dtype=torch.float64))
    holder = nn.Module()
    holder.point = point
    opt = make_optimizer(holder, optimizer, lr=lr, momentum=momentum)
    path = [point.detach().clone()]
    for _ in range(steps):
        opt.zero_grad()
        fn(point).backward()
        opt.step()
        path.append(point.detach().clone())
    return torch.stack(path)  # (steps + 1, 2)
