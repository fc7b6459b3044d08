"""Optimisers and learning-rate schedules: how ``fit`` turns gradients into parameter updates.

Three optimisers (SGD with momentum, Adam, AdamW), weight decay that leaves gains, biases and
the temperature alone, and three schedules (constant, step, cosine), each optionally preceded by
a linear warmup. The small 2-D helpers at the end draw the path an optimiser takes on a loss
surface, the first picture of the optimisation lesson.

Explained in: notebooks/04_optimization.ipynb
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import torch
from torch import nn

from xmlab.utils import get_device

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("constant", "step", "cosine")


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Split the parameters into a decayed group and a group without weight decay.

    Weight decay pulls weights towards 0. That regularises weight matrices and embedding tables
    (2-D and more), but on a bias, a LayerNorm gain or the temperature ``logit_scale`` it only
    fights the model, so these (every parameter with fewer than 2 dimensions, and any
    ``logit_scale``) get no decay, as in CLIP.
    """
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        skip = p.ndim < 2 or name.split(".")[-1] == "logit_scale"
        (no_decay if skip else decay).append(p)
    groups = [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return [g for g in groups if g["params"]]


def make_optimizer(
    model: nn.Module,
    name: str = "adam",
    *,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    momentum: float = 0.9,
    betas: tuple[float, float] = (0.9, 0.999),
) -> torch.optim.Optimizer:
    """An optimiser over ``model``'s parameters, grouped by :func:`param_groups`.

    Args:
        model: the module to train.
        name: ``"sgd"`` (with ``momentum``), ``"adam"`` (decay added to the gradient, i.e. L2)
            or ``"adamw"`` (decay applied to the weights directly, decoupled from Adam's scaling).
        lr: the base learning rate (a schedule multiplies it).
        weight_decay: strength of the decay on weight matrices.
        momentum: SGD's momentum (0 gives plain gradient descent).
        betas: Adam's averaging factors for the gradient and its square.
    """
    groups = param_groups(model, weight_decay)
    if not groups:
        raise ValueError("the model has no trainable parameters: nothing to optimise")
    if name == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=momentum)
    if name == "adam":
        return torch.optim.Adam(groups, lr=lr, betas=betas)
    if name == "adamw":
        return torch.optim.AdamW(groups, lr=lr, betas=betas)
    raise ValueError(f"unknown optimizer {name!r}: expected one of {', '.join(OPTIMIZERS)}")


def lr_factor(
    step: int,
    *,
    schedule: str,
    total_steps: int,
    warmup_steps: int = 0,
    step_size: int = 0,
    gamma: float = 0.1,
) -> float:
    """The multiplier of the base learning rate at ``step`` (0-based) for a named schedule.

    During the first ``warmup_steps`` steps the factor rises linearly: ``(step + 1) / warmup``.
    After the warmup, with ``t`` the steps since it ended:

    - ``"constant"``: 1.
    - ``"step"``: ``gamma ** (t // step_size)``, a drop by ``gamma`` every ``step_size`` steps
      (``step_size=0`` drops at a third and two thirds of the steps after the warmup).
    - ``"cosine"``: half a cosine from 1 down to 0 at ``total_steps``:
      ``0.5 * (1 + cos(pi * t / (total_steps - warmup_steps)))``.
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {schedule!r}: expected one of {', '.join(SCHEDULES)}")
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    t, rest = step - warmup_steps, max(total_steps - warmup_steps, 1)
    if schedule == "constant":
        return 1.0
    if schedule == "step":
        return gamma ** (t // (step_size or max(math.ceil(rest / 3), 1)))
    return 0.5 * (1 + math.cos(math.pi * min(t / rest, 1.0)))


def make_scheduler(optimizer: torch.optim.Optimizer, config, *, total_steps: int):
    """A ``LambdaLR`` that follows :func:`lr_factor` for ``config``'s schedule.

    ``config`` is a ``xm.train.TrainConfig`` (``schedule``, ``warmup_steps``, ``step_size`` and
    ``step_gamma`` are read).
    """
    options = _schedule_options(config, total_steps)
    lr_factor(0, **options)  # fail early on a bad name
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_factor(step, **options))


def _schedule_options(config, total_steps: int) -> dict:
    return {
        "schedule": config.schedule,
        "total_steps": total_steps,
        "warmup_steps": config.warmup_steps,
        "step_size": getattr(config, "step_size", 0),
        "gamma": getattr(config, "step_gamma", 0.1),
    }


def schedule_curve(config, *, total_steps: int) -> list[float]:
    """The learning rate of each of ``total_steps`` steps that ``config`` would use."""
    options = _schedule_options(config, total_steps)
    return [config.lr * lr_factor(s, **options) for s in range(total_steps)]


def plot_schedule(config, *, total_steps: int, ax=None, label: str | None = None):
    """Draw the learning rate per step before training; returns the axes."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3))
    label = label or f"{config.schedule} (warmup {config.warmup_steps})"
    ax.plot(range(1, total_steps + 1), schedule_curve(config, total_steps=total_steps), label=label)
    ax.set(xlabel="step", ylabel="learning rate")
    ax.legend()
    return ax


def lr_range_test(
    model: nn.Module,
    loader: Iterable[dict],
    *,
    loss_fn: Callable[[nn.Module, dict], torch.Tensor],
    optimizer: str = "adam",
    start: float = 1e-6,
    end: float = 1.0,
    steps: int = 60,
    device: str = "auto",
) -> dict:
    """Train with a learning rate growing exponentially from ``start`` to ``end``, one step per
    batch, and record the loss; the model's weights are restored afterwards.

    ``loss_fn(model, batch)`` is the loss ``fit`` would train, e.g. ``xm.train.contrastive_loss``.

    The loss first barely moves (rate too small), then falls, then explodes (too large). The
    test stops once the smoothed loss exceeds 4 times its best. A good rate is about a tenth
    of the one with the lowest loss: that is the ``"suggested"`` value.

    Returns:
        ``{"lr": [...], "loss": [...] (smoothed), "suggested": float}``.

    Paper: Smith, "Cyclical Learning Rates for Training Neural Networks", 2017.
    """
    device = get_device(device)
    saved = {k: v.detach().clone() for k, v in model.to(device).state_dict().items()}
    opt = make_optimizer(model, optimizer, lr=start)
    lrs, smooth, avg = [], [], 0.0
    model.train()
    for i, batch in enumerate(_cycle(loader, steps)):
        lr = start * (end / start) ** (i / max(steps - 1, 1))
        for group in opt.param_groups:
            group["lr"] = lr
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model, _to_device(batch, device))
        loss.backward()
        opt.step()
        avg = 0.9 * avg + 0.1 * loss.item()
        lrs.append(lr), smooth.append(avg / (1 - 0.9 ** (i + 1)))  # bias-corrected average
        if not math.isfinite(smooth[-1]) or smooth[-1] > 4 * min(smooth):
            break
    model.load_state_dict(saved)
    return {"lr": lrs, "loss": smooth, "suggested": lrs[smooth.index(min(smooth))] / 10}


def _cycle(loader: Iterable[dict], steps: int):
    """``steps`` batches, going through the loader again as often as needed."""
    done = 0
    while done < steps:
        for batch in loader:
            yield batch
            done += 1
            if done == steps:
                return


def _to_device(batch: dict, device: torch.device) -> dict:
    return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


def plot_lr_range(result: dict, ax=None):
    """The loss against the learning rate of :func:`lr_range_test` (log axis); returns the axes."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3))
    ax.semilogx(result["lr"], result["loss"], label="smoothed loss")
    ax.axvline(result["suggested"], color="k", ls="--", lw=1, label="suggested")
    ax.set(xlabel="learning rate", ylabel="loss")
    ax.legend()
    return ax


# ----- 2-D loss surfaces: watch an optimiser walk ------------------------------------------


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


def plot_descent(fn, paths: dict[str, torch.Tensor], *, xlim=(-2, 2), ylim=(-1, 1), ax=None):
    """Contours of ``fn`` with each named optimiser path drawn over them; returns the axes."""
    import matplotlib.pyplot as plt

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
