"""Input checks shared by losses, metrics, fusion and distributed code: one wording per mistake.

Every check raises a ``ValueError`` (``TypeError`` for a value of the wrong kind) that says what
was expected, what came, and what to do, so a learner gets the same clear message whichever
function received the bad input. Checks return what they checked, so they can be used inline:
``emb = checks.embeddings(emb, "image")``.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Sequence

import torch


def _shape(x) -> str:
    """The shape of a tensor, or the type of anything else, for a message."""
    return str(tuple(x.shape)) if isinstance(x, torch.Tensor) else type(x).__name__


def embeddings(x, name: str, *, allow_empty: bool = False) -> torch.Tensor:
    """``x`` unchanged if it is a finite ``(N, D)`` tensor (non-empty unless ``allow_empty``)."""
    if not isinstance(x, torch.Tensor) or x.ndim != 2:
        raise ValueError(f"expected {name} embeddings shaped (N, D), got {_shape(x)}")
    if x.shape[0] == 0 and not allow_empty:
        raise ValueError(f"no {name} embeddings: the set to score is empty")
    return finite(x, f"{name} embeddings")


def finite(x: torch.Tensor, name: str) -> torch.Tensor:
    """``x`` unchanged unless it holds NaN or infinite values."""
    if not torch.isfinite(x).all():
        raise ValueError(
            f"{name} contain NaN or infinite values: check the inputs, and lower the learning "
            "rate if training diverged"
        )
    return x


def same_width(a: torch.Tensor, b: torch.Tensor, names: tuple[str, str]) -> None:
    """Two embedding sets must live in one space: the same number of dimensions ``D``."""
    if a.shape[-1] != b.shape[-1]:
        raise ValueError(
            f"{names[0]} embeddings have {a.shape[-1]} dimensions but {names[1]} embeddings "
            f"have {b.shape[-1]}: embed both into the same shared space"
        )


def same_count(n_a: int, n_b: int, names: tuple[str, str]) -> None:
    """Two batches paired by row must hold as many items each."""
    if n_a != n_b:
        raise ValueError(
            f"{names[0]} batch has {n_a} items but {names[1]} batch has {n_b}: every "
            f"{names[0]} needs exactly one {names[1]}"
        )


def pair(
    a: torch.Tensor, b: torch.Tensor, names: tuple[str, str] = ("image", "text")
) -> tuple[torch.Tensor, torch.Tensor]:
    """Two finite ``(B, D)`` batches paired by row: row ``i`` of ``a`` goes with row ``i`` of
    ``b``. Returns them unchanged."""
    for name, x in zip(names, (a, b)):
        embeddings(x, name, allow_empty=True)
    same_count(a.shape[0], b.shape[0], names)
    same_width(a, b, names)
    return a, b


def scalar(value, name: str, *, hint: str = ""):
    """A number or a one-element tensor (e.g. ``model.logit_scale.exp()``), returned unchanged."""
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise ValueError(
                f"{name} must be a scalar, got shape {tuple(value.shape)}: pass one number"
                + (f" ({hint})" if hint else "")
            )
    elif isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    return value


def labels(values, n: int, name: str) -> torch.Tensor:
    """One integer label per item: ``(n,)`` long on the CPU."""
    if values is None:
        raise ValueError(f"every {name} item needs a label: pass labels, one per item")
    values = torch.as_tensor(values).flatten().long().cpu()
    if len(values) != n:
        raise ValueError(f"got {len(values)} labels for {n} {name} items: one label per item")
    return values


def batch_keys(batch, keys: Iterable[str], where: str, *, fix: str = "add it to the batch") -> dict:
    """A dict batch that holds every one of ``keys``; returned unchanged. ``fix`` says what to
    do about a missing key."""
    keys = list(keys)
    if not isinstance(batch, dict):
        raise TypeError(f"{where} takes a dict batch with {keys}, got {type(batch).__name__}")
    missing = [k for k in keys if k not in batch]
    if missing:
        raise ValueError(
            f"{where} needs {keys} but the batch has no {missing[0]!r} (it has "
            f"{sorted(batch)}): {fix}"
        )
    return batch


def one_of(value, allowed: Sequence, name: str):
    """``value`` if it is one of ``allowed``."""
    if value not in allowed:
        raise ValueError(
            f"unknown {name} {value!r}: expected one of {', '.join(map(str, allowed))}"
        )
    return value
