"""Optimisation: a readable training loop for any model whose loss a function can compute.

``fit`` runs epochs of mini-batch gradient descent with a ``tqdm`` progress bar, records a
``History`` and calls back into user code after each step and epoch.

Explained in: notebooks/00_welcome.ipynb and notebooks/04_optimization.ipynb
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import torch
from torch import nn
from tqdm.auto import tqdm

from xmlab import losses
from xmlab.utils import get_device

LossFn = Callable[[nn.Module, dict], torch.Tensor]


@dataclass
class TrainConfig:
    """What ``fit`` needs to know besides the model and the data."""

    epochs: int = 5  # passes over the training data
    lr: float = 1e-3  # learning rate of Adam
    weight_decay: float = 0.0  # L2 penalty added by the optimiser
    schedule: str = "constant"  # learning-rate schedule: "constant" or "cosine" (warmup + decay)
    warmup_steps: int = 0  # steps of linear warmup from 0 to lr (cosine schedule)
    device: str = "auto"  # "auto", "cpu", "cuda" or "mps"
    progress: bool = True  # show a tqdm progress bar


@dataclass
class History:
    """Everything ``fit`` measured: one row per step and one row per epoch."""

    steps: list[dict] = field(default_factory=list)  # {"step", "epoch", "loss", "lr"}
    epochs: list[dict] = field(default_factory=list)  # {"epoch", "loss", **eval metrics}

    def __len__(self) -> int:
        return len(self.steps)

    def last(self, key: str = "loss") -> float:
        """The latest value of ``key`` in the epoch rows (or step rows when it is only there)."""
        for rows in (self.epochs, self.steps):
            for row in reversed(rows):
                if key in row:
                    return row[key]
        raise KeyError(f"{key!r} was never recorded; recorded keys: {sorted(self.keys())}")

    def keys(self) -> set[str]:
        return {k for rows in (self.steps, self.epochs) for row in rows for k in row}

    def plot(self, ax=None, *, key: str = "loss"):
        """Plot ``key`` per step (and per epoch when recorded there); returns the axes."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(5, 3))
        xs = [r["step"] for r in self.steps if key in r]
        ax.plot(xs, [r[key] for r in self.steps if key in r], lw=1, label=f"{key} per step")
        ends = [r for r in self.epochs if key in r]
        if ends:
            steps_per_epoch = len(self.steps) / max(len(self.epochs), 1)
            ax.plot(
                [r["epoch"] * steps_per_epoch for r in ends],
                [r[key] for r in ends],
                "o-",
                label=f"{key} per epoch",
            )
        ax.set(xlabel="step", ylabel=key)
        ax.legend()
        return ax


class Callback:
    """Override the hooks you need; ``fit`` calls them with itself's live state."""

    def on_step(self, row: dict, model: nn.Module) -> None:
        """After every optimiser step, with the step's history row."""

    def on_epoch_end(self, row: dict, model: nn.Module) -> None:
        """After every epoch (and its evaluation), with the epoch's history row."""


def move_to(batch: dict, device: torch.device) -> dict:
    """Move every tensor of a dict batch to ``device``; other values stay as they are."""
    return {
        k: v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v
        for k, v in batch.items()
    }


def contrastive_loss(model: nn.Module, batch: dict) -> torch.Tensor:
    """The default loss: CLIP's symmetric InfoNCE on a dual encoder's image and text embeddings."""
    out = model(batch["image"], batch["input_ids"], batch["attention_mask"])
    return losses.clip_loss(out["image_emb"], out["text_emb"], logit_scale=out["logit_scale"])


def fit(
    model: nn.Module,
    loader: Iterable[dict],
    *,
    config: TrainConfig | None = None,
    loss_fn: LossFn = contrastive_loss,
    eval_fn: Callable[[nn.Module], dict] | None = None,
    callbacks: Iterable[Callback] = (),
) -> History:
    """Train ``model`` with Adam on ``loader`` for ``config.epochs`` epochs.

    Args:
        model: any module; moved to the configured device.
        loader: yields dict batches (tensors are moved to the device for you).
        config: epochs, learning rate, device...
        loss_fn: ``loss_fn(model, batch) -> scalar loss``.
        eval_fn: ``eval_fn(model) -> {"metric": value}``, called after every epoch.
        callbacks: objects with ``on_step`` / ``on_epoch_end`` hooks.

    Returns:
        The ``History`` of the run.
    """
    config = config or TrainConfig()
    device = get_device(config.device)
    model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    scheduler = make_scheduler(optimizer, config, total_steps=config.epochs * len(loader))
    history = History()
    bar = tqdm(total=config.epochs * len(loader), disable=not config.progress, desc="training")
    for epoch in range(1, config.epochs + 1):
        model.train()
        epoch_loss = 0.0
        for batch in loader:
            loss = loss_fn(model, move_to(batch, device))
            _check_finite(loss, len(history) + 1)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            if hasattr(model, "clamp_logit_scale"):
                model.clamp_logit_scale()
            row = {
                "step": len(history) + 1,
                "epoch": epoch,
                "loss": loss.item(),
                "lr": optimizer.param_groups[0]["lr"],
            }
            history.steps.append(row)
            epoch_loss += row["loss"]
            bar.update()
            bar.set_postfix(loss=f"{row['loss']:.3f}", epoch=epoch)
            for cb in callbacks:
                cb.on_step(row, model)
        row = {"epoch": epoch, "loss": epoch_loss / max(len(loader), 1)}
        if eval_fn is not None:
            model.eval()
            with torch.no_grad():
                row.update(eval_fn(model))
        history.epochs.append(row)
        for cb in callbacks:
            cb.on_epoch_end(row, model)
    bar.close()
    return history


def lr_factor(step: int, *, schedule: str, total_steps: int, warmup_steps: int = 0) -> float:
    """The multiplier of the base learning rate at ``step`` (0-based) for a named schedule.

    ``"constant"``: always 1. ``"cosine"``: rises linearly from 0 over ``warmup_steps``, then
    follows half a cosine from 1 down to 0 at ``total_steps``.
    """
    if schedule == "constant":
        return 1.0
    if schedule != "cosine":
        raise ValueError(f"unknown schedule {schedule!r}: expected 'constant' or 'cosine'")
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(total_steps - warmup_steps, 1)
    return 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))


def make_scheduler(optimizer: torch.optim.Optimizer, config: TrainConfig, *, total_steps: int):
    """A ``LambdaLR`` that follows :func:`lr_factor` for the configured schedule."""
    lr_factor(0, schedule=config.schedule, total_steps=total_steps)  # fail early on a bad name
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda step: lr_factor(
            step,
            schedule=config.schedule,
            total_steps=total_steps,
            warmup_steps=config.warmup_steps,
        ),
    )


def _check_finite(loss: torch.Tensor, step: int) -> None:
    if not torch.isfinite(loss):
        raise FloatingPointError(
            f"the loss became {loss.item()} at step {step}: lower the learning rate, "
            "check the temperature (logit_scale) and the inputs for NaN"
        )


@torch.no_grad()
def embed_pairs(
    model: nn.Module, loader: Iterable[dict], *, device: str = "auto"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Image and text embeddings of every pair a loader yields, in order, on the CPU."""
    device = get_device(device)
    model.to(device).eval()
    images, texts = [], []
    for batch in loader:
        batch = move_to(batch, device)
        images.append(model.encode_image(batch["image"]).float().cpu())
        texts.append(model.encode_text(batch["input_ids"], batch["attention_mask"]).float().cpu())
    return torch.cat(images), torch.cat(texts)
