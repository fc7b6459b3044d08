"""The public API survives the package's reorganisation into one folder per step.

``api_surface.json`` lists, for every module of the package as it was before training, the
course tools and the fusion lesson's helpers moved into ``train/``, ``course/``, ``data/``,
``encoders/`` and ``metrics/``, the public names it defined or re-exported. Each must still be
reachable: at the same module path, or -- for a module that was dissolved into several homes
(``xmlab.fusion.digits``) -- from the package that held it.
"""

import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

SURFACE = json.loads((Path(__file__).parent / "api_surface.json").read_text())
PAIRS = [(module, name) for module, names in SURFACE.items() for name in names]


def resolve(module: str, name: str):
    """``module.name``, or ``package.name`` for the nearest package that still has it."""
    path = module
    while path:
        try:
            return getattr(importlib.import_module(path), name)
        except (ModuleNotFoundError, AttributeError):
            path = path.rpartition(".")[0]
    raise AttributeError(f"{module}.{name} is no longer reachable")


def test_every_public_name_is_still_reachable():
    lost = []
    for module, name in PAIRS:
        try:
            resolve(module, name)
        except AttributeError:
            lost.append(f"{module}.{name}")
    assert len(PAIRS) > 500 and not lost, lost


def test_modules_that_moved_keep_their_old_import_paths():
    import xmlab as xm

    for old, new in [("optim", "train.optim"), ("checkpoint", "train.checkpoint"),
                     ("accumulate", "train.accumulate"), ("history", "train.history"),
                     ("sweep", "course.sweep"), ("student", "course.student"),
                     ("classroom", "course.classroom")]:  # fmt: skip
        assert importlib.import_module(f"xmlab.{old}") is importlib.import_module(f"xmlab.{new}")
        assert getattr(xm, old) is importlib.import_module(f"xmlab.{new}")
    from xmlab.record import read_records  # the module keeps its path ...

    assert callable(read_records) and xm.record("api", 1) == 1  # ... xm.record stays a function
    assert xm.fusion.accuracy is xm.metrics.model_accuracy
    assert xm.optim.plot_schedule is xm.viz.plot_schedule


def test_import_xmlab_loads_no_plotting_widgets_or_distributed_code():
    code = (
        "import sys, xmlab; "
        "print([m for m in ('matplotlib.pyplot', 'ipywidgets', 'xmlab.distributed', "
        "'xmlab.viz', 'xmlab.widgets', 'nbformat', 'papermill') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_command_line_help_loads_no_plotting_or_widgets():
    code = (
        "import sys; from xmlab.cli import build_parser; build_parser().format_help(); "
        "print([m for m in ('matplotlib.pyplot', 'ipywidgets') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_lazy_modules_load_on_first_use():
    import xmlab as xm

    assert callable(xm.viz.show_similarity) and callable(xm.widgets.temperature_explorer)
    assert callable(xm.distributed.launch)
    with pytest.raises(AttributeError, match="has no attribute 'nonexistent'"):
        xm.nonexistent  # noqa: B018
