"""The training loop: ``fit`` and its configuration, one short named step at a time.

``fit`` runs epochs of mini-batch gradient descent. Each step is a short list of named parts:
forward and backward (with mixed precision and gradient accumulation when asked), gradient
clipping, the optimiser step, the schedule, and clamping the temperature. After each epoch it
evaluates, saves a checkpoint, calls back into user code and decides whether to stop early.
A ``History`` keeps every number it measured. The parts live beside this file in
``xmlab/train/``: optimisers and schedules (``optim.py``), accumulation (``accumulate.py``),
checkpoints (``checkpoint.py``), ``History`` and ``Callback`` (``history.py``), the loss
hooks ``fit`` calls (``hooks.py``) and what ``fit`` checks so that nothing is lost or quietly
wrong (``guards.py``).

Explained in: notebooks/00_welcome.ipynb and notebooks/04_optimization.ipynb
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from functools import partial

import torch
from torch import nn
from tqdm.auto import tqdm

from xmlab import checks
from xmlab.data.loaders import move_to
from xmlab.encoders.dual import clamp_temperature, unwrap
from xmlab.train import accumulate, guards
from xmlab.train.checkpoint import (
    CheckpointError,
    read_checkpoint,
    restore,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from xmlab.train.history import Callback, History, early_stop
from xmlab.train.hooks import LossFn, contrastive_loss
from xmlab.train.optim import OPTIMIZERS, SCHEDULES, make_optimizer, make_scheduler
from xmlab.utils import evaluating, get_device

PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass
class TrainConfig:
    """What ``fit`` needs to know besides the model and the data."""

    epochs: int = 5  # passes over the training data
    lr: float = 1e-3  # base learning rate (the schedule multiplies it)
    weight_decay: float = 0.0  # decay of weight matrices (never of biases, gains, logit_scale)
    optimizer: str = "adam"  # "sgd" (with momentum), "adam" or "adamw"
    momentum: float = 0.9  # SGD's momentum (0: plain gradient descent)
    betas: tuple[float, float] = (0.9, 0.999)  # Adam's averaging of the gradient and its square
    schedule: str = "constant"  # after the warmup: "constant", "step" or "cosine" (decay to 0)
    warmup_steps: int = 0  # steps of linear warmup from 0 to lr
    step_size: int = 0  # "step" schedule: steps between drops (0: drop at 1/3 and 2/3)
    step_gamma: float = 0.1  # "step" schedule: factor of each drop
    clip_grad_norm: float = 0.0  # rescale the gradient when its norm exceeds this (0: never)
    precision: str = "fp32"  # "fp32"; "bf16" autocast (CPU or GPU); "fp16" + grad scaler (CUDA)
    accumulate: int = 1  # micro-batches per batch, summed into one step (1: no accumulation)
    accumulation: str = "cached"  # "cached" (exact for contrastive losses) or "naive"
    monitor: str = ""  # epoch metric for early stopping, e.g. "val_loss" ("": never stop early)
    patience: int = 3  # epochs without a better monitor value before stopping
    checkpoint: str = ""  # file to save a checkpoint to after every epoch ("": none)
    resume: str = ""  # checkpoint file to continue from ("": start fresh)
    device: str = "auto"  # "auto", "cpu", "cuda" or "mps"
    progress: bool = True  # show a progress bar with the live loss and learning rate

    def __post_init__(self):
        self.check()

    def check(self) -> None:
        """Raise an error that names the field for any impossible setting."""
        choices = {
            "optimizer": OPTIMIZERS,
            "schedule": SCHEDULES,
            "precision": tuple(PRECISIONS),
            "accumulation": ("cached", "naive"),
        }
        for name, allowed in choices.items():
            checks.one_of(getattr(self, name), allowed, name)
        guards.check_config(self)


@dataclass
class _Run:
    """The live state of one ``fit``: what a step changes and a checkpoint saves."""

    model: nn.Module
    config: TrainConfig
    device: torch.device
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    autocast: Callable
    history: History = field(default_factory=History)
    epoch: int = 0  # epochs finished
    params: list = field(default_factory=list)  # the trainable parameters, for clipping
    saved: str = " the history"  # what is kept, for the message of an interrupted run


def _start(model: nn.Module, loader, config: TrainConfig, loss_fn: LossFn) -> _Run:
    """Build the optimiser, schedule, scaler and autocast for ``config``; resume if asked."""
    device = get_device(config.device)
    if config.precision == "fp16" and device.type != "cuda":
        raise ValueError(
            f"precision='fp16' needs a CUDA GPU (it relies on a gradient scaler); on {device} "
            "use precision='bf16' or 'fp32'"
        )
    if config.accumulate > 1 and config.accumulation == "cached":
        guards.check_cacheable(model, loss_fn)
    steps = guards.batches_per_epoch(loader, contrastive=hasattr(loss_fn, "pair_loss"))
    if config.checkpoint:
        guards.check_writable(config.checkpoint)
    model.to(device)
    opt = make_optimizer(
        model,
        config.optimizer,
        lr=config.lr,
        weight_decay=config.weight_decay,
        momentum=config.momentum,
        betas=config.betas,
    )
    dtype = PRECISIONS[config.precision]
    run = _Run(
        model,
        config,
        device,
        opt,
        scheduler=make_scheduler(opt, config, total_steps=config.epochs * steps),
        scaler=torch.amp.GradScaler(device.type, enabled=config.precision == "fp16"),
        autocast=partial(torch.autocast, device.type, dtype=dtype) if dtype else nullcontext,
        params=[p for p in model.parameters() if p.requires_grad],
    )
    if config.resume:
        _resume(run, loader)
    return run


def _resume(run: _Run, loader) -> None:
    saved = read_checkpoint(run.config.resume)
    if saved["config"]["optimizer"] != run.config.optimizer:
        raise CheckpointError(
            f"{run.config.resume} was trained with {saved['config']['optimizer']!r} but this run "
            f"uses {run.config.optimizer!r}: resume with the same optimizer"
        )
    parts = {"optimizer": run.optimizer, "scheduler": run.scheduler, "scaler": run.scaler}
    restore(saved, run.model, path=run.config.resume, history=run.history, **parts)
    run.epoch = saved["epoch"]
    set_rng_state(saved["rng"], getattr(loader, "generator", None))


def _save(run: _Run, loader) -> None:
    save_checkpoint(
        run.config.checkpoint,
        model=run.model,
        optimizer=run.optimizer,
        scheduler=run.scheduler,
        scaler=run.scaler,
        history=run.history,
        epoch=run.epoch,
        config=asdict(run.config),
        rng=rng_state(getattr(loader, "generator", None)),
    )
    run.saved = f" the history; the checkpoint {run.config.checkpoint} holds epoch {run.epoch}"


def _backward(run: _Run, batch: dict, loss_fn: LossFn) -> torch.Tensor:
    """Forward and backward passes of one batch; returns the detached loss."""
    cfg, scale = run.config, run.scaler.scale
    if cfg.accumulate == 1:
        with run.autocast():
            loss = guards.check_loss(loss_fn(run.model, batch))
        scale(loss).backward()
        return loss.detach()
    if cfg.accumulation == "naive":
        return accumulate.naive_backward(
            run.model, batch, loss_fn, chunks=cfg.accumulate, autocast=run.autocast, scale=scale
        )
    return accumulate.cached_backward(
        run.model,
        batch,
        chunks=cfg.accumulate,
        pair_loss=loss_fn.pair_loss,
        autocast=run.autocast,
        scale=scale,
    )


def train_step(run: _Run, batch: dict, loss_fn: LossFn, epoch: int) -> dict:
    """One optimiser step; returns its history row.

    A NaN or infinite loss or gradient stops training with a ``FloatingPointError`` before
    the step is taken; with ``precision="fp16"`` the gradient scaler skips a step whose
    gradient overflowed (that is how it finds its scale), and the row says ``"skipped"``.
    """
    model, opt, cfg, fp16 = run.model, run.optimizer, run.config, run.scaler.is_enabled()
    opt.zero_grad(set_to_none=True)
    loss = _backward(run, move_to(checks.batch_keys(batch, [], "fit"), run.device), loss_fn)
    if cfg.clip_grad_norm or fp16:
        run.scaler.unscale_(opt)  # clip and measure the true gradient, not the fp16-scaled one
    if cfg.clip_grad_norm:
        norm = nn.utils.clip_grad_norm_(run.params, cfg.clip_grad_norm)
    else:
        norm = guards.grad_norm(run.params)
    scalars = [loss, norm.to(loss.device)]
    log_scale = getattr(unwrap(model), "logit_scale", None)  # also inside DDP
    if isinstance(log_scale, torch.Tensor):
        scalars.append(log_scale.detach())
    dtype = torch.promote_types(loss.dtype, torch.float32)  # float64 models log float64
    values = torch.stack([s.to(dtype) for s in scalars]).tolist()  # the step's one device wait
    row = {"step": len(run.history) + 1, "epoch": epoch, "loss": values[0]}
    row["lr"] = opt.param_groups[0]["lr"]
    if cfg.clip_grad_norm:
        row["grad_norm"] = values[1]
    if isinstance(log_scale, torch.Tensor):
        row["temperature"] = math.exp(-values[-1])  # 1 / logit_scale.exp()
    if not math.isfinite(row["loss"]):
        guards.raise_not_finite_loss(row)
    if not math.isfinite(values[1]):
        if not fp16:
            guards.raise_not_finite_gradient(model, row, values[1])
        row["skipped"] = "fp16 overflow: the gradient scaler skipped the step, lowered its scale"
    run.scaler.step(opt)  # an fp16 step with inf/NaN gradients is skipped
    run.scaler.update()
    run.scheduler.step()
    clamp_temperature(model)
    return row


def train_one_epoch(run: _Run, loader, epoch: int, *, loss_fn: LossFn, callbacks=(), bar=None):
    """One pass over ``loader``; returns the epoch's row ``{"epoch", "loss", "seconds"}``."""
    run.model.train()
    start, total, n = time.perf_counter(), 0.0, 0
    for batch in loader:
        row = train_step(run, batch, loss_fn, epoch)
        run.history.steps.append(row)
        total, n = total + row["loss"], n + 1
        if bar is not None:
            bar.update()
            bar.set_postfix(loss=f"{row['loss']:.3f}", lr=f"{row['lr']:.2e}", refresh=False)
        for cb in callbacks:
            cb.on_step(row, run.model)
    if n == 0:
        guards.raise_no_batches(loader, epoch)
    return {"epoch": epoch, "loss": total / n, "seconds": time.perf_counter() - start}


def fit(
    model: nn.Module,
    loader: Iterable[dict],
    *,
    config: TrainConfig | None = None,
    loss_fn: LossFn = contrastive_loss,
    eval_fn: Callable[[nn.Module], dict] | None = None,
    callbacks: Iterable[Callback] = (),
) -> History:
    """Train ``model`` on ``loader`` for ``config.epochs`` epochs.

    Pressing a notebook's stop button (``KeyboardInterrupt``) ends training cleanly: the model
    keeps its last completed step and the history so far is returned (``history.stopped``
    says so); a checkpoint file always holds a whole epoch. A NaN or infinite loss or gradient
    raises a ``FloatingPointError`` naming the step, before the step is taken; weights are
    checked finite before every save. Mistakes in the settings, the loader or the checkpoint
    path are found before the first step. An error that ends training carries the history so
    far as ``err.history``.

    Args:
        model: any module; moved to the configured device.
        loader: yields dict batches (tensors are moved to the device for you).
        config: optimiser, schedule, precision, accumulation, early stopping, checkpoints...
        loss_fn: ``loss_fn(model, batch) -> scalar loss``.
        eval_fn: ``eval_fn(model) -> {"metric": value}``, called after every epoch.
        callbacks: objects with ``on_step`` / ``on_epoch_end`` hooks.

    Returns:
        The ``History`` of the run.
    """
    config = config or TrainConfig()
    config.check()
    run = _start(model, loader, config, loss_fn)
    callbacks = list(callbacks)
    total = config.epochs * len(loader)
    bar = tqdm(total=total, initial=len(run.history), disable=not config.progress, desc="training")
    try:
        for epoch in range(run.epoch + 1, config.epochs + 1):
            row = train_one_epoch(run, loader, epoch, loss_fn=loss_fn, callbacks=callbacks, bar=bar)
            if _end_epoch(run, loader, row, eval_fn, callbacks):
                break
    except KeyboardInterrupt:
        model.zero_grad(set_to_none=True)
        run.history.stopped = f"interrupted after step {len(run.history)}"
        print(f"Training stopped by the user after step {len(run.history)}; kept{run.saved}.")
    except Exception as err:
        err.history = run.history  # what was measured before the error is not lost
        raise
    finally:
        bar.close()
    return run.history


def _end_epoch(run: _Run, loader, row: dict, eval_fn, callbacks) -> bool:
    """Check, evaluate, record, save, then call back (so an interrupt in a callback leaves the
    history and the checkpoint agreeing); returns True when early stopping says stop."""
    guards.check_finite_model(run.model, row["epoch"], run.optimizer.param_groups[0]["lr"])
    if eval_fn is not None:
        row.update(evaluate(run.model, eval_fn))
    run.history.epochs.append(row)
    run.epoch = row["epoch"]
    if run.config.checkpoint:
        _save(run, loader)
    for cb in callbacks:
        cb.on_epoch_end(row, run.model)
    if run.config.monitor:
        run.history.stopped = early_stop(run.history, run.config.monitor, run.config.patience)
    return bool(run.history.stopped)


def evaluate(model: nn.Module, eval_fn: Callable[[nn.Module], dict]) -> dict:
    """Call ``eval_fn(model)`` in eval mode without gradients, then put the model back."""
    with evaluating(model):
        metrics = eval_fn(model)
    if not isinstance(metrics, dict):
        raise TypeError(
            f"eval_fn must return a dict of metrics, got {type(metrics).__name__}: return e.g."
            ' {"val_loss": loss}'
        )
    return metrics
