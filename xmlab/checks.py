"""Input checks the whole kit shares: one wording per mistake.

Every check raises a ``ValueError`` (``TypeError`` for a value of the wrong kind) that says what
was expected, what came, and what to do, so a learner gets the same clear message whichever
function received the bad input. Checks return what they checked, so they can be used inline:
``emb = checks.embeddings(emb, "image")``.

Checks that read tensor values (is anything NaN?) cost a pass over the data, and on a GPU a wait
for it; where a result reveals the problem anyway (a NaN input makes a NaN loss), the kit checks
the result instead and only looks at the inputs to explain a bad one (:func:`finite_result`).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import torch

NOT_FINITE_FIX = "check the inputs, and lower the learning rate if training diverged"


def _shape(x) -> str:
    """The shape of a tensor, or the type of anything else, for a message."""
    return str(tuple(x.shape)) if isinstance(x, torch.Tensor) else type(x).__name__


def _first_bad(x: torch.Tensor) -> str:
    """Where the first NaN or infinite value of ``x`` sits and what it is, for a message."""
    bad = (~torch.isfinite(x.detach())).nonzero()[0].tolist()
    return f"{x[tuple(bad)].item()} at index {tuple(bad) if len(bad) > 1 else bad[0]}"


def finite(x: torch.Tensor, name: str, *, fix: str = NOT_FINITE_FIX) -> torch.Tensor:
    """``x`` unchanged unless it holds NaN or infinite values."""
    if x.is_floating_point() and x.numel() and not all(map(math.isfinite, x.detach().aminmax())):
        raise ValueError(
            f"{name} contain NaN or infinite values (expected finite numbers, got "
            f"{_first_bad(x)}): {fix}"
        )
    return x


def finite_result(result: torch.Tensor, inputs: Mapping[str, torch.Tensor], where: str):
    """``result`` unchanged unless it is NaN or infinite; then an error naming the input that
    made it so. Looks only on the CPU, where it costs nothing: on an accelerator each look
    would wait for the device, so ``xm.train.fit`` checks its loss once per step instead."""
    if result.device.type != "cpu" or math.isfinite(result.item()):
        return result
    for name, x in inputs.items():
        if isinstance(x, torch.Tensor):
            finite(x, name)
    raise ValueError(
        f"{where} is {result.item()} although its inputs are finite "
        "(expected a finite number): the scaled similarities overflowed; lower logit_scale "
        "(or the learning rate) and keep the embeddings unit length"
    )


def embeddings(x, name: str, *, allow_empty: bool = False, check_finite: bool = True):
    """``x`` unchanged if it is a finite float ``(N, D)`` tensor (non-empty unless
    ``allow_empty``). ``check_finite=False`` leaves the values to :func:`finite_result`."""
    if not isinstance(x, torch.Tensor) or x.ndim != 2:
        raise ValueError(
            f"expected {name} embeddings shaped (N, D), got {_shape(x)}: pass a 2-D tensor, "
            "one row per item"
        )
    if not x.is_floating_point():
        raise TypeError(
            f"expected {name} embeddings as floats, got dtype {x.dtype}: embeddings come from "
            "an encoder; convert with .float()"
        )
    if x.shape[0] == 0 and not allow_empty:
        raise ValueError(f"no {name} embeddings: the set to score is empty (shape {_shape(x)})")
    return finite(x, f"{name} embeddings") if check_finite else x


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


def same_items(sizes: Mapping[str, int], where: str) -> None:
    """Inputs paired by row (one per modality) must hold as many items each."""
    if len(set(sizes.values())) > 1:
        raise ValueError(
            f"{where} got batches of different sizes {dict(sizes)} (expected one size): row i of "
            "every modality must describe item i, so batch them together"
        )


def pair(
    a: torch.Tensor,
    b: torch.Tensor,
    names: tuple[str, str] = ("image", "text"),
    *,
    check_finite: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Two ``(B, D)`` float batches paired by row: row ``i`` of ``a`` goes with row ``i`` of
    ``b``. Returns them unchanged."""
    fine = (  # the common case in one test; the checks below say what is wrong otherwise
        isinstance(a, torch.Tensor)
        and isinstance(b, torch.Tensor)
        and a.ndim == 2
        and a.shape == b.shape
        and a.is_floating_point()
        and b.is_floating_point()
    )
    if fine and not check_finite:
        return a, b
    for name, x in zip(names, (a, b)):
        embeddings(x, name, allow_empty=True, check_finite=check_finite)
    same_count(a.shape[0], b.shape[0], names)
    same_width(a, b, names)
    return a, b


def enough_pairs(n: int, where: str, *, minimum: int = 2) -> None:
    """A contrastive batch needs other pairs to contrast with: at least ``minimum`` rows."""
    if n == 0:
        raise ValueError(
            f"{where} got an empty batch (0 pairs, expected at least {minimum}): its loss "
            "would be NaN; check the loader, it must yield non-empty batches"
        )
    if n < minimum:
        raise ValueError(
            f"{where} needs at least {minimum} pairs in a batch, got {n}: with a single pair "
            "there are no negatives, the loss is 0 and nothing is learned; use a larger "
            "batch_size, or drop_last=True so that a last batch of one is skipped"
        )


def positives(mask, shape: tuple[int, int], offset: int = 0) -> torch.Tensor | None:
    """A ``(B, N)`` positives mask (True where row ``i`` and column ``j`` are a correct pair),
    True at every row's own pair ``(i, offset + i)``; returned as bool (``None`` stays)."""
    if mask is None:
        return None
    if not isinstance(mask, torch.Tensor) or tuple(mask.shape) != tuple(shape):
        got = tuple(mask.shape) if isinstance(mask, torch.Tensor) else mask
        raise ValueError(
            f"positives must be a {tuple(shape)} mask (one row per query, one column per "
            f"candidate), got {got}: build it with xm.losses.positives_from_labels(labels)"
        )
    mask = mask.bool()
    rows = torch.arange(shape[0], device=mask.device)
    if not mask[rows, rows + offset].all():
        raise ValueError(
            "positives must be True on the diagonal (expected every pair to be its own "
            "positive), got a False there: build it with xm.losses.positives_from_labels"
        )
    return mask


def scalar(value, name: str, *, hint: str = "", positive: bool = False):
    """A number or a one-element tensor (e.g. ``model.logit_scale.exp()``), returned unchanged.

    ``positive`` refuses a plain number <= 0 (a tensor is not read: that would wait for it)."""
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise ValueError(
                f"{name} must be a scalar, got shape {tuple(value.shape)}: pass one number"
                + (f" ({hint})" if hint else "")
            )
    elif isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}: pass one number")
    elif positive and not value > 0:
        raise ValueError(f"{name} must be above 0, got {value}" + (f": {hint}" if hint else ""))
    return value


def number(
    value,
    name: str,
    *,
    above: float | None = None,
    at_least: float | None = None,
    below: float | None = None,
    at_most: float | None = None,
    integer: bool = False,
    fix: str = "",
):
    """``value`` if it is a finite number (an ``int`` when ``integer``) within the limits
    given; ``fix`` says what to pass instead (e.g. ``"try 1e-3"``)."""
    kind = "an integer" if integer else "a finite number"
    fix = f": {fix}" if fix else ""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be {kind}, got {value!r} ({type(value).__name__}){fix}")
    if integer and not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be {kind}, got {value!r}{fix}")
    limits = {"above": above, "at least": at_least, "below": below, "at most": at_most}
    wanted = " and".join(f" {word} {limit}" for word, limit in limits.items() if limit is not None)
    if not (
        math.isfinite(value)
        and (above is None or value > above)
        and (at_least is None or value >= at_least)
        and (below is None or value < below)
        and (at_most is None or value <= at_most)
    ):
        raise ValueError(f"{name} must be {kind}{wanted}, got {value!r}{fix}")
    return value


def seed(value, name: str = "seed") -> int:
    """A seed: a non-negative ``int`` (NumPy integers too), returned as an ``int``. Anything
    else is a ``ValueError`` (a float or a string included), one rule for every seed."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(
            f"{name} must be a non-negative integer, got {value!r} ({type(value).__name__}): "
            f"pass e.g. {name}=0"
        )
    return int(value)


def label_ids(values, name: str = "labels") -> torch.Tensor:
    """Integer ids as a 1-D ``long`` tensor: class ids, or text ids from ``group_ids``."""
    if isinstance(values, str) or (
        isinstance(values, Sequence) and values and isinstance(values[0], str)
    ):
        raise TypeError(
            f"{name} must be integer ids, got strings ({str(values)[:40]}): turn texts into ids "
            "with xm.metrics.group_ids(texts), equal texts get equal ids"
        )
    ids = torch.as_tensor(values)
    if ids.is_floating_point() and not (ids == ids.round()).all():
        raise TypeError(
            f"{name} must be integer ids, got fractional numbers "
            f"({[float(f'{v:.4g}') for v in ids.flatten()[:4].tolist()]}): "
            "pass class ids such as 0, 1, 2"
        )
    if ids.is_complex() or ids.ndim > 1 and ids.squeeze().ndim > 1:
        raise ValueError(f"{name} must be one id per item, shaped (N,), got {_shape(ids)}")
    return ids.flatten().long()


def labels(values, n: int, name: str) -> torch.Tensor:
    """One integer label per item: ``(n,)`` long on the CPU."""
    if values is None:
        raise ValueError(f"every {name} item needs a label: pass labels, one per item")
    values = label_ids(values, f"{name} labels").cpu()
    if len(values) != n:
        raise ValueError(f"got {len(values)} labels for {n} {name} items: one label per item")
    return values


def batch_keys(batch, keys: Iterable[str], where: str, *, fix: str = "add it to the batch") -> dict:
    """A dict batch that holds every one of ``keys``; returned unchanged. ``fix`` says what to
    do about a missing key."""
    keys = list(keys)
    if not isinstance(batch, dict):
        wanted = f"a dict batch with {keys}" if keys else "dict batches (name -> tensor)"
        raise TypeError(
            f"{where} takes {wanted}, got {type(batch).__name__}: make the loader yield dicts, "
            "e.g. xm.data.TensorLoader({'image': images, ...})"
        )
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
            f"unknown {name} {value!r}: expected one of {', '.join(map(str, allowed))}; "
            f"pass one of them, e.g. {name}={list(allowed)[0]!r}"
        )
    return value


def float_batch(x, ndim: int, what: str) -> torch.Tensor:
    """``x`` as a tensor if it is a non-empty float batch with ``ndim`` dimensions."""
    if (x := torch.as_tensor(x)).ndim != ndim or not x.is_floating_point() or x.shape[-1] == 0:
        shape = "(B, T)" if ndim == 2 else "(B, n_mels, frames)"
        raise ValueError(
            f"expected a float batch of {what} shaped {shape}, got {_shape(x)} {x.dtype}: "
            "stack the items into one batch (one clip: x[None])"
        )
    return x


def waveform(wave, *, min_length: int = 1, why: str = "") -> torch.Tensor:
    """A ``(T,)`` or ``(B, T)`` waveform of finite samples, as floats (int16 scaled to
    [-1, 1)). ``min_length`` is the fewest samples the caller can use; ``why`` says why."""
    wave = torch.as_tensor(wave)
    if wave.ndim not in (1, 2) or wave.shape[-1] == 0:
        raise ValueError(
            f"expected a waveform of shape (T,) or (B, T) with T > 0, got {_shape(wave)}: "
            "pass one clip, or a batch of clips of one length (stereo: average the channels)"
        )
    if wave.ndim == 2 and wave.shape[1] <= 8 < wave.shape[0]:
        raise ValueError(
            f"a waveform shaped {_shape(wave)} looks like {wave.shape[0]} samples of "
            f"{wave.shape[1]} channels (channels last), expected (T,) or (B, T): pass a mono "
            "clip, e.g. wave.mean(-1)"
        )
    if wave.dtype == torch.int16:
        wave = wave.float() / 32768.0
    elif not wave.is_floating_point():
        raise TypeError(
            f"expected a float or int16 waveform, got dtype {wave.dtype}: scale it to floats "
            "in [-1, 1] (int32: divide by 2**31)"
        )
    if wave.shape[-1] < min_length:
        raise ValueError(
            f"the waveform has {wave.shape[-1]} samples but at least {min_length} are needed"
            f"{why}: pad the clip with zeros (torch.nn.functional.pad) or use a smaller n_fft"
        )
    return finite(wave, "the waveform's samples", fix="replace them, e.g. torch.nan_to_num(wave)")


def image_batch(images, *, channels: int | None = 3) -> torch.Tensor:
    """A ``(B, C, H, W)`` uint8 or float image batch (``C == channels`` unless None)."""
    if not isinstance(images, torch.Tensor):
        raise TypeError(
            f"expected images as a torch.Tensor (B, C, H, W), got {type(images).__name__}: "
            "convert with torch.as_tensor(images)"
        )
    if images.dtype != torch.uint8 and not images.is_floating_point():
        raise TypeError(
            f"expected uint8 or float images, got dtype {images.dtype}: use uint8 pixels "
            "0..255, or floats in [0, 1]"
        )
    if images.ndim != 4:
        hint = " (a single image? add a batch axis with images[None])" if images.ndim == 3 else ""
        raise ValueError(f"expected images shaped (B, C, H, W), got {_shape(images)}{hint}")
    if channels is not None and images.shape[1] != channels:
        raise ValueError(
            f"expected {channels} channels in images (B, C, H, W), got shape {_shape(images)}"
            " (channels-last? use images.permute(0, 3, 1, 2))"
        )
    return images
