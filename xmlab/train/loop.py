"""The training loop: ``fit`` and its configuration, one short named step at a time.

``fit`` runs epochs of mini-batch gradient descent. Each step is a short list of named parts:
forward and backward (with mixed precision and gradient accumulation when asked), gradient
clipping, the optimiser step, the schedule, and clamping the temperature. After each epoch it
evaluates, calls back into user code, saves a checkpoint and decides whether to stop early.
A ``History`` keeps every number it measured. The parts live beside this file in
``xmlab/train/``: optimisers and schedules (``optim.py``), accumulation (``accumulate.py``),
checkpoints (``checkpoint.py``), ``History`` and ``Callback`` (``history.py``), and the loss
hooks ``fit`` calls (``hooks.py``).

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
from xmlab.train import accumulate
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
        """Raise a ``ValueError`` that names the field for any impossible setting."""
        choices = {
            "optimizer": OPTIMIZERS,
            "schedule": SCHEDULES,
            "precision": tuple(PRECISIONS),
            "accumulation": ("cached", "naive"),
        }
        for name, allowed in choices.items():
            checks.one_of(getattr(self, name), allowed, name)
        for name in ("epochs", "accumulate", "patience"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr!r}: try 1e-3")


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


def _start(model: nn.Module, loader, config: TrainConfig, loss_fn: LossFn) -> _Run:
    """Build the optimiser, schedule, scaler and autocast for ``config``; resume if asked."""
    device = get_device(config.device)
    if config.precision == "fp16" and device.type != "cuda":
        raise ValueError(
            f"precision='fp16' needs a CUDA GPU (it relies on a gradient scaler); on {device} "
            "use precision='bf16' or 'fp32'"
        )
    if config.accumulate > 1 and config.accumulation == "cached":
        _check_cacheable(model, loss_fn)
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
        scheduler=make_scheduler(opt, config, total_steps=config.epochs * len(loader)),
        scaler=torch.amp.GradScaler(device.type, enabled=config.precision == "fp16"),
        autocast=partial(torch.autocast, device.type, dtype=dtype) if dtype else nullcontext,
        params=[p for p in model.parameters() if p.requires_grad],
    )
    if config.resume:
        _resume(run, loader)
    return run


def _check_cacheable(model: nn.Module, loss_fn: LossFn) -> None:
    if getattr(loss_fn, "pair_loss", None) is None or not hasattr(model, "encode_image"):
        raise ValueError(
            "accumulation='cached' needs a dual encoder (encode_image, encode_text, logit_scale) "
            "and a loss of its embeddings: use loss_fn=xm.train.contrastive_loss or "
            "xm.train.make_contrastive_loss(pair_loss), or accumulation='naive' for other losses"
        )


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


def _backward(run: _Run, batch: dict, loss_fn: LossFn) -> torch.Tensor:
    """Forward and backward passes of one batch; returns the detached loss."""
    cfg, scale = run.config, run.scaler.scale
    if cfg.accumulate == 1:
        with run.autocast():
            loss = loss_fn(run.model, batch)
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
    """One optimiser step; returns its history row."""
    model, opt, cfg = run.model, run.optimizer, run.config
    opt.zero_grad(set_to_none=True)
    loss = _backward(run, move_to(batch, run.device), loss_fn)
    scalars = [loss]
    if cfg.clip_grad_norm:
        run.scaler.unscale_(opt)  # clip the true gradient, not the fp16-scaled one
        scalars.append(nn.utils.clip_grad_norm_(run.params, cfg.clip_grad_norm))
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
        _raise_not_finite(row)
    run.scaler.step(opt)  # an fp16 step with inf/NaN gradients is skipped
    run.scaler.update()
    run.scheduler.step()
    clamp_temperature(model)
    return row


def _raise_not_finite(row: dict) -> None:
    temperature = f" (it is {row['temperature']:.3g})" if "temperature" in row else ""
    raise FloatingPointError(
        f"the loss became {row['loss']} at step {row['step']}: lower the learning rate "
        f"(it is {row['lr']:.3g}) or clip gradients (clip_grad_norm=1.0), check the "
        f"temperature{temperature}: a tiny one overflows the logits, try precision='fp32' if "
        "mixed precision is on, and check the inputs for NaN"
    )


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
    return {"epoch": epoch, "loss": total / max(n, 1), "seconds": time.perf_counter() - start}


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
    says so). A NaN or infinite loss raises a ``FloatingPointError`` naming the step.

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
        print(f"Training stopped by the user after step {len(run.history)}; history kept.")
    finally:
        bar.close()
    return run.history


def _end_epoch(run: _Run, loader, row: dict, eval_fn, callbacks) -> bool:
    """Evaluate, record, call back, save; returns True when early stopping says stop."""
    if eval_fn is not None:
        row.update(evaluate(run.model, eval_fn))
    run.history.epochs.append(row)
    run.epoch = row["epoch"]
    for cb in callbacks:
        cb.on_epoch_end(row, run.model)
    if run.config.checkpoint:
        _save(run, loader)
    if run.config.monitor:
        run.history.stopped = early_stop(run.history, run.config.monitor, run.config.patience)
    return bool(run.history.stopped)


def evaluate(model: nn.Module, eval_fn: Callable[[nn.Module], dict]) -> dict:
    """Call ``eval_fn(model)`` in eval mode without gradients, then put the model back."""
    with evaluating(model):
        return dict(eval_fn(model))
