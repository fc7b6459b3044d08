"""Optimisers and learning-rate schedules: how ``fit`` turns gradients into parameter updates.

Three optimisers (SGD with momentum, Adam, AdamW), weight decay that leaves gains, biases and
the temperature alone, and three schedules (constant, step, cosine), each optionally preceded by
a linear warmup; and the learning-rate range test, which finds a good learning rate before
training. Their figures are in ``xmlab/viz/training.py``; the toy loss surfaces of the first
picture of the lesson are in ``xmlab/train/surfaces.py``.

Explained in: notebooks/04_optimization.ipynb
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import torch
from torch import nn

from xmlab.data.loaders import move_to
from xmlab.utils import get_device, moved

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
        loss = loss_fn(model, move_to(batch, device))
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


# names that moved: the figures to xmlab/viz/training.py, the toy surfaces to surfaces.py
__getattr__ = moved(
    {
        "plot_schedule": "xmlab.viz.training",
        "plot_lr_range": "xmlab.viz.training",
        "plot_descent": "xmlab.viz.training",
        "ravine": "xmlab.train.surfaces",
        "rosenbrock": "xmlab.train.surfaces",
        "descend": "xmlab.train.surfaces",
    },
    __name__,
)
