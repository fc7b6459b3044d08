"""Checkpoints that lose nothing: everything needed to continue a run exactly where it stopped.

A checkpoint holds the state of the model, the optimiser, the scheduler and the gradient scaler,
the random number generators (Python, NumPy, PyTorch on CPU and GPU, and the data loader's
shuffling), the history so far and any metadata (the configuration, the epoch). It is written
to a temporary file that then replaces the target in one step, so a crash mid-save never leaves
a half-written checkpoint, and it is read back with ``torch.load(weights_only=True)``, which
cannot run code hidden in a file.

Explained in: notebooks/04_optimization.ipynb
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import torch

FORMAT = "xmlab-checkpoint-1"


class CheckpointError(ValueError):
    """A checkpoint that cannot be read, or that does not fit the model it is loaded into."""


def rng_state(generator: torch.Generator | None = None) -> dict:
    """The state of every random number generator a training run draws from."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    if generator is not None:
        state["loader"] = generator.get_state()
    return state


def set_rng_state(state: dict, generator: torch.Generator | None = None) -> None:
    """Put every generator back to a state returned by :func:`rng_state`."""
    random.setstate(state["python"])
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    if generator is not None and "loader" in state:
        generator.set_state(state["loader"])


def save_checkpoint(path: str | os.PathLike, **parts) -> Path:
    """Save the ``state_dict()`` of each named part (model, optimizer, ...) atomically.

    Args:
        path: the checkpoint file (its folder is created).
        **parts: objects with a ``state_dict()`` method (``None`` is skipped), or plain values
            (tensors, numbers, strings, lists and dicts of them) stored as they are.

    Returns:
        The path written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"format": FORMAT}
    for name, part in parts.items():
        if part is not None:
            payload[name] = part.state_dict() if hasattr(part, "state_dict") else part
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with tmp.open("wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)  # atomic: readers see the old file or the new one, never half
    finally:
        tmp.unlink(missing_ok=True)
    return path


def read_checkpoint(path: str | os.PathLike) -> dict:
    """Read a checkpoint written by :func:`save_checkpoint` (tensors land on the CPU)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path.resolve()}: check the path")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for a damaged file
        raise CheckpointError(
            f"cannot read the checkpoint {path}: the file is damaged or is not a checkpoint "
            f"({type(err).__name__}: {str(err).splitlines()[0][:200]}). Pick an earlier "
            "checkpoint or train from the start"
        ) from err
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(
            f"{path} is not an xmlab checkpoint (expected format {FORMAT!r}): "
            "save it with xm.checkpoint.save_checkpoint or xm.train.fit"
        )
    return payload


def check_model_fits(model: torch.nn.Module, saved: dict, *, path: str | os.PathLike = "") -> None:
    """Raise a :class:`CheckpointError` naming the first differences when the saved model state
    does not have exactly ``model``'s parameter names and shapes."""
    own = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    theirs = {k: tuple(v.shape) for k, v in saved.items()}
    missing, extra = sorted(own.keys() - theirs.keys()), sorted(theirs.keys() - own.keys())
    shapes = [
        f"{k}: {theirs[k]} saved, {own[k]} here" for k in own if theirs.get(k, own[k]) != own[k]
    ]
    if missing or extra or shapes:
        problems = [
            f"missing {missing[:3]}" if missing else "",
            f"unexpected {extra[:3]}" if extra else "",
            f"shapes differ ({'; '.join(shapes[:3])})" if shapes else "",
        ]
        raise CheckpointError(
            f"the checkpoint {path} was saved from a different model: "
            f"{', '.join(p for p in problems if p)}. Build the model with the same sizes "
            "(vocabulary, width, embed_dim) as the run that saved it"
        )


def load_checkpoint(path: str | os.PathLike, model: torch.nn.Module, **parts) -> dict:
    """Load a checkpoint into ``model`` and the other named parts (optimizer, scheduler, ...).

    Each part with a ``load_state_dict`` method gets its saved state; a part the checkpoint
    does not hold is left as it is.

    Returns:
        The whole checkpoint, for the plain values (history, epoch, config, RNG states).

    Raises:
        CheckpointError: for a damaged file or a model of other names or shapes.
    """
    payload = read_checkpoint(path)
    restore(payload, model, path=path, **parts)
    return payload


def restore(payload: dict, model: torch.nn.Module, *, path="", **parts) -> None:
    """Load the states of a checkpoint already read with :func:`read_checkpoint`."""
    check_model_fits(model, payload.get("model", {}), path=path)
    model.load_state_dict(payload["model"])
    for name, part in parts.items():
        if part is not None and name in payload:
            try:
                part.load_state_dict(payload[name])
            except (ValueError, KeyError, RuntimeError) as err:
                raise CheckpointError(
                    f"the {name} state in {path} does not fit this run ({err}): resume with "
                    "the same optimizer and settings as the run that saved it"
                ) from err
