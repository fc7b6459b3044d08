"""What ``fit`` checks so that a run is never lost or quietly wrong.

Before training: every setting is possible, the loader yields batches (and a contrastive loss
gets at least two pairs in each), and the checkpoint file can be written -- so no mistake waits
for the end of the first epoch. At every step: the loss is a scalar with a gradient, and the
gradient is finite, or the step is not taken (mixed precision's gradient scaler skips such a
step by design: the history marks it). After every epoch: the weights are finite before they
are saved. Each failure says what happened and what to try.

Explained in: notebooks/04_optimization.ipynb
"""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path

import torch
from torch import nn

from xmlab import checks
from xmlab.train.checkpoint import CheckpointError, first_not_finite
from xmlab.utils import DEVICE_NAMES

LIMITS = {  # field: (limits for checks.number, what to try)
    "lr": ({"above": 0}, "try 1e-3"),
    "weight_decay": ({"at_least": 0}, "try 0.0 or 0.05"),
    "momentum": ({"at_least": 0, "below": 1}, "try 0.9"),
    "step_gamma": ({"above": 0, "at_most": 1}, "try 0.1"),
    "clip_grad_norm": ({"at_least": 0}, "try 1.0, or 0 for no clipping"),
}
COUNTS = {  # integer field: (smallest value, what to try)
    "epochs": (1, "e.g. epochs=5"),
    "accumulate": (1, "1 means no accumulation"),
    "patience": (1, "e.g. patience=3"),
    "warmup_steps": (0, "0 means no warmup"),
    "step_size": (0, "0 drops at 1/3 and 2/3 of the steps"),
}


def check_config(config) -> None:
    """Raise an error that names the field for any impossible setting of a ``TrainConfig``."""
    for name, (limits, fix) in LIMITS.items():
        checks.number(getattr(config, name), name, fix=fix, **limits)
    for name, (smallest, fix) in COUNTS.items():
        checks.number(getattr(config, name), name, integer=True, at_least=smallest, fix=fix)
    if len(config.betas) != 2:
        raise ValueError(f"betas must be two numbers, got {config.betas!r}: try (0.9, 0.999)")
    for beta in config.betas:
        checks.number(beta, "each of betas", at_least=0, below=1, fix="try (0.9, 0.999)")
    device = str(config.device).split(":")[0]
    checks.one_of(device, DEVICE_NAMES, "device")
    for name in ("checkpoint", "resume", "monitor"):
        if not isinstance(getattr(config, name), (str, os.PathLike)):
            value = getattr(config, name)
            raise TypeError(f"{name} must be a path or a name (str), got {value!r}")


def batches_per_epoch(loader, *, contrastive: bool) -> int:
    """``len(loader)``, after making sure an epoch trains at least one step and a contrastive
    loss never meets a batch of a single pair."""
    if not hasattr(loader, "__len__") or not hasattr(loader, "__iter__"):
        raise TypeError(
            f"fit takes a loader with a length, got {type(loader).__name__}: pass a "
            "TensorLoader, a DataLoader, or a list of dict batches"
        )
    items, size, drop_last = _loader_sizes(loader)
    if len(loader) == 0:
        raise ValueError(
            f"the loader yields no batches ({items} items, batch_size {size}, drop_last "
            f"{drop_last}), so training would take 0 steps: give it data"
            + (", or set drop_last=False or a batch_size of at most the item count" * drop_last)
        )
    if contrastive and isinstance(items, int) and not drop_last and items % size == 1:
        raise ValueError(
            f"the last batch of every epoch would hold 1 pair ({items} items, batch_size "
            f"{size}): a contrastive loss needs at least 2; pass drop_last=True to skip it, "
            "or pick a batch_size that does not leave one item over"
        )
    return len(loader)


def _loader_sizes(loader) -> tuple:
    """(items, batch size, drop_last) of a TensorLoader or DataLoader, "?" where unknown."""
    dataset = getattr(loader, "dataset", None)
    items = getattr(loader, "n", None)
    if items is None:
        items = len(dataset) if hasattr(dataset, "__len__") else "?"
    return items, getattr(loader, "batch_size", "?"), bool(getattr(loader, "drop_last", False))


def check_cacheable(model: nn.Module, loss_fn) -> None:
    """Exact (cached) accumulation needs a dual encoder and a loss of its embeddings."""
    if getattr(loss_fn, "pair_loss", None) is None or not hasattr(model, "encode_image"):
        raise ValueError(
            "accumulation='cached' needs a dual encoder (encode_image, encode_text, logit_scale) "
            "and a loss of its embeddings: use loss_fn=xm.train.contrastive_loss or "
            "xm.train.make_contrastive_loss(pair_loss), or accumulation='naive' for other losses"
        )


def raise_no_batches(loader, epoch: int) -> None:
    raise ValueError(
        f"epoch {epoch} got no batches from the loader although len(loader) is {len(loader)}: "
        "make the loader yield its batches every time it is iterated (not a used-up generator)"
    )


def check_writable(path: str | os.PathLike) -> None:
    """Fail now, not after the first epoch, when checkpoints cannot be written to ``path``."""
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(
            f"checkpoint={str(path)!r} is a folder, expected a file: name a file in it, "
            f"e.g. checkpoint={str(path / 'model.pt')!r}"
        )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path.parent):
            pass
    except OSError as err:
        raise CheckpointError(
            f"cannot write checkpoints to {path} ({err.strerror or err}): pick a file in a "
            "folder you can write to, e.g. checkpoint='checkpoints/model.pt'"
        ) from err


def check_loss(loss) -> torch.Tensor:
    """``loss`` unchanged if a backward pass can start from it."""
    if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
        got = f"shape {tuple(loss.shape)}" if isinstance(loss, torch.Tensor) else repr(loss)
        raise TypeError(
            f"loss_fn must return a scalar tensor, got {got}: reduce it (e.g. .mean()) and "
            "return the tensor itself, not .item()"
        )
    if not loss.requires_grad:
        raise ValueError(
            "loss_fn returned a tensor without a gradient (expected one computed from the "
            "model's outputs): do not compute it under torch.no_grad() or from .detach()-ed "
            "values, and check that the model has trainable parameters"
        )
    return loss.reshape(())


def grad_norm(params: list[nn.Parameter]) -> torch.Tensor:
    """The L2 norm of all gradients together, left on the device (no wait); NaN or inf when
    any gradient is."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return torch.zeros(())
    total = getattr(nn.utils, "get_total_norm", None)  # torch >= 2.6
    if total is not None:
        return total(grads)
    return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))


def raise_not_finite_loss(row: dict) -> None:
    temperature = f" (it is {row['temperature']:.3g})" if "temperature" in row else ""
    raise FloatingPointError(
        f"the loss became {row['loss']} at step {row['step']} (expected a finite number): "
        "the step was not taken. Lower the learning rate "
        f"(it is {row['lr']:.3g}) or clip gradients (clip_grad_norm=1.0), check the "
        f"temperature{temperature}: a tiny one overflows the logits, try precision='fp32' if "
        "mixed precision is on, and check the inputs for NaN"
    )


def raise_not_finite_gradient(model: nn.Module, row: dict, norm: float) -> None:
    """The step with a finite loss but a NaN or infinite gradient, explained; not taken."""
    bad = [
        name
        for name, p in model.named_parameters()
        if p.grad is not None and not torch.isfinite(p.grad).all()
    ]
    model.zero_grad(set_to_none=True)
    raise FloatingPointError(
        f"the gradient became {norm} at step {row['step']} (expected a finite gradient: the "
        f"loss was finite, {row['loss']:.4g}), in {', '.join(bad[:3]) or 'the model'}"
        f"{' and others' * (len(bad) > 3)}. The step was not taken: the model keeps the "
        "weights of the step before. Look for an operation whose derivative is infinite at "
        "some input (sqrt or log of 0, dividing by a norm of 0: add a small eps), lower the "
        f"learning rate (it is {row['lr']:.3g}), or use precision='fp32'"
    )


def check_finite_model(model: nn.Module, epoch: int, lr: float) -> None:
    """Refuse to go on (and to save) with NaN or infinite weights."""
    name = first_not_finite(model.state_dict())
    if name is not None:
        raise FloatingPointError(
            f"{name} holds NaN or infinite values after epoch {epoch} although every loss and "
            "gradient was finite (expected finite weights): a step was too large or a callback "
            f"changed the weights. Nothing was saved; lower the learning rate (it is {lr:.3g}) "
            "or clip gradients (clip_grad_norm=1.0)"
        )


def finite_or_skipped(norm: float, fp16: bool) -> bool:
    """True when the step may go ahead; False for fp16's scaler to skip it (and say so)."""
    return math.isfinite(norm) or not fp16
