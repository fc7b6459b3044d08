"""xmlab: a kit for teaching and experimenting with cross-modal learning.

Notebooks use it as ``import xmlab as xm`` and call ``xm.losses.clip_loss(...)``,
``xm.data.make_shapes(...)``, and so on. The package follows the three steps of the method:

1. preprocessing into a common representation: ``data/``, ``preprocess/``;
2. joint learning across models and tasks: ``encoders/``, ``losses/``, ``fusion/``,
   ``modalities.py``, ``binding.py``;
3. optimisation by gradient descent: ``train/`` (and ``distributed/`` at scale);

then evaluation (``metrics/``), figures and widgets (``viz/``, ``widgets/``), and running a
course (``course/``, ``cli.py``). Input checks that several steps share are in ``checks.py``.
Lesson 08's toolboxes for real data sit beside the training recipes: ``speech.py`` (real
spoken digits) and ``zeroshot.py`` (held-out classes, a pretrained text tower); ``needs.py``
says what a notebook needs beyond the kit (real data, extras).

``viz``, ``widgets``, ``distributed`` and ``course`` load on first use (PEP 562), so
``import xmlab`` and the ``xmlab`` command load neither matplotlib's pyplot nor ipywidgets.
"""

import sys

from xmlab import (
    binding,
    checks,
    course,
    data,
    encoders,
    fusion,
    losses,
    metrics,
    modalities,
    needs,
    preprocess,
    speech,
    train,
    utils,
    zeroshot,
)
from xmlab.course import classroom, student, sweep
from xmlab.course.record import record, recorded
from xmlab.release import __version__ as __version__
from xmlab.train import accumulate, checkpoint, history, optim
from xmlab.utils import moved

# Modules that moved into a step's folder keep their old names: `xm.optim`, `import
# xmlab.checkpoint`, `from xmlab.sweep import run_sweep` all reach the module in its new home.
for _module in (accumulate, checkpoint, classroom, history, optim, student, sweep):
    sys.modules.setdefault(f"xmlab.{_module.__name__.rsplit('.', 1)[-1]}", _module)
sys.modules.setdefault("xmlab.record", sys.modules["xmlab.course.record"])  # xm.record: function

# Figures, widgets and distributed training load on first use.
__getattr__ = moved({name: f"xmlab.{name}" for name in ("viz", "widgets", "distributed")}, __name__)

__all__ = [
    "accumulate",
    "binding",
    "checkpoint",
    "checks",
    "classroom",
    "course",
    "data",
    "distributed",
    "encoders",
    "fusion",
    "history",
    "losses",
    "metrics",
    "modalities",
    "needs",
    "optim",
    "preprocess",
    "record",
    "recorded",
    "speech",
    "student",
    "sweep",
    "train",
    "utils",
    "viz",
    "widgets",
    "zeroshot",
]
