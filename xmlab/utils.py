"""Small helpers every lesson needs: seeding, choosing a device, eval mode, timing, reading source.

Explained in: notebooks/00_welcome.ipynb
"""

from __future__ import annotations

import importlib
import inspect
import os
import random
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

DEVICE_NAMES = ("auto", "cpu", "cuda", "mps")


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and PyTorch (CPU and CUDA) so a run repeats exactly.

    Args:
        seed: any non-negative integer.

    Returns:
        A CPU ``torch.Generator`` seeded with ``seed``, handy for data loaders.
    """
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}: pass e.g. seed=0")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device
    os.environ["PYTHONHASHSEED"] = str(seed)
    return torch.Generator().manual_seed(seed)


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def get_device(device: str | torch.device = "auto") -> torch.device:
    """Turn a device name into a ``torch.device``.

    ``"auto"`` picks CUDA when a GPU is visible, then Apple's MPS, then the CPU, so the same
    notebook runs unchanged on a laptop, on Colab and on a GPU server.

    Args:
        device: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"`` or a ``torch.device``.

    Raises:
        ValueError: for an unknown name, or a device this machine does not have.
    """
    if isinstance(device, torch.device):
        return device
    name = str(device).strip().lower()
    kind = name.split(":")[0]
    if kind not in DEVICE_NAMES:
        raise ValueError(
            f"unknown device {device!r}: expected one of {', '.join(DEVICE_NAMES)} "
            "(or 'cuda:N'); use 'auto' to let the kit choose"
        )
    if kind == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps") if _mps_available() else torch.device("cpu")
    if kind == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} was asked for but no CUDA GPU is visible: use 'auto'")
    if kind == "mps" and not _mps_available():
        raise ValueError(f"device {device!r} was asked for but MPS is not available: use 'auto'")
    return torch.device(name)


@contextmanager
def evaluating(model: nn.Module) -> Iterator[nn.Module]:
    """Run a block with ``model`` in eval mode and without gradients, then put it back.

    Dropout is off and batch norm uses its running statistics inside the block; afterwards the
    model is in training mode again if it was before::

        with xm.utils.evaluating(model):
            emb = model.encode_image(images)
    """
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield model
    finally:
        model.train(was_training)


def count_parameters(module: nn.Module, *, trainable: bool = True) -> int:
    """Number of (trainable, by default) scalar parameters of ``module``."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable)


def atomic_write(path: str | os.PathLike, data: bytes | str) -> Path:
    """Write ``data`` to ``path`` all or nothing: a temporary file beside it, flushed to disk,
    then ``os.replace``. A reader (or a crash) sees the old file or the new one, never half.

    The folder is created when missing; ``str`` data is written as UTF-8. Returns the path.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(handle, "wb") as f:
            f.write(data.encode("utf-8") if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


@dataclass
class Timer:
    """Measure wall time of a block: ``with Timer() as t: ...`` then ``t.seconds``.

    Call ``t.lap("name")`` inside the block to record intermediate times in ``t.laps``.
    """

    seconds: float = 0.0  # elapsed time of the finished block
    laps: dict[str, float] = field(default_factory=dict)  # name -> seconds since the start
    _start: float = 0.0

    def __enter__(self) -> Timer:
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        self.seconds = time.perf_counter() - self._start

    def lap(self, name: str) -> float:
        """Record and return the seconds since the block started."""
        self.laps[name] = time.perf_counter() - self._start
        return self.laps[name]

    def __str__(self) -> str:
        return f"{self.seconds:.2f} s"


def show_source(obj) -> str:
    """Return the source code of a package function or class, to read it beside the lesson.

    In a notebook, ``print(xm.utils.show_source(xm.losses.clip_loss))`` shows the code the
    lesson just built by hand.
    """
    try:
        return inspect.getsource(obj)
    except (TypeError, OSError) as err:
        raise TypeError(f"cannot show the source of {obj!r}: pass a function or class") from err


def moved(names: dict[str, str], module: str) -> Callable[[str], object]:
    """A module-level ``__getattr__`` (PEP 562) for names that now live in another module.

    ``__getattr__ = moved({"plot_schedule": "xmlab.viz.training"}, __name__)`` keeps
    ``xm.optim.plot_schedule`` working, and imports the new home only when the name is first
    used, so a module never loads what sits above it in the package just by being imported.
    ``"module:other_name"`` names the attribute when it was renamed; a name that maps to
    ``f"{module}.{name}"`` is a submodule, loaded on first use.
    """

    def __getattr__(name: str):
        if name not in names:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        home, _, attribute = names[name].partition(":")
        found = importlib.import_module(home)
        return found if home == f"{module}.{name}" else getattr(found, attribute or name)

    return __getattr__
