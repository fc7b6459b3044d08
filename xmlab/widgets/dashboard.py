"""A training dashboard: start and stop ``xm.train.fit`` from buttons and watch the loss live.

Training runs in a background thread, so the kernel keeps answering the stop button; a callback
checks a stop flag after every step. The curve is the ``LiveCurve`` of
``xmlab.widgets.training``: a PNG image widget, which a background thread can update.

Explained in: notebooks/05_evaluation.ipynb
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

import ipywidgets as widgets
from torch import nn

from xmlab import train
from xmlab.widgets.explorers import figure_widget
from xmlab.widgets.training import LiveCurve


class _Stopped(Exception):
    """Raised inside ``fit`` by the dashboard's callback when stop was pressed."""


class _StoppableCurve(LiveCurve):
    """The ``LiveCurve`` of the training lesson, drawing into the dashboard's image and
    stopping ``fit`` (by raising) once the stop button was pressed."""

    def __init__(self, image: widgets.Image, *, stop: threading.Event, every_s: float):
        super().__init__(every_s=every_s)
        self.widget, self.stop = image, stop

    def on_step(self, row: dict, model: nn.Module) -> None:
        super().on_step(row, model)
        if self.stop.is_set():
            raise _Stopped


class TrainingDashboard(widgets.VBox):
    """Start / stop buttons, a status line and the live loss; build it with
    :func:`training_dashboard`. After a run, ``model`` and ``curve`` hold its results."""

    def __init__(self, make_model, loader, config: train.TrainConfig, every_s: float):
        self.make_model, self.loader, self.config, self.every_s = (
            make_model,
            loader,
            config,
            every_s,
        )
        self.start_button = widgets.Button(description="start", button_style="success")
        self.stop_button = widgets.Button(description="stop", button_style="danger", disabled=True)
        self.status = widgets.HTML("ready")
        self.plot = figure_widget("xmlab-dashboard-plot")
        self.start_button.on_click(lambda _: self.start())
        self.stop_button.on_click(lambda _: self.stop())
        self._stop, self._thread = threading.Event(), None
        self.model, self.curve, self.error = None, None, None
        super().__init__(
            [widgets.HBox([self.start_button, self.stop_button, self.status]), self.plot]
        )

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Train a fresh model in a background thread."""
        if self.running:
            return
        self._stop.clear()
        self.model, self.error = self.make_model(), None
        self.curve = _StoppableCurve(self.plot, stop=self._stop, every_s=self.every_s)
        self.start_button.disabled, self.stop_button.disabled = True, False
        self.status.value = "training..."
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            train.fit(self.model, self.loader, config=self.config, callbacks=[self.curve])
            self.status.value = f"finished after {len(self.curve.steps)} steps"
        except _Stopped:
            self.status.value = f"stopped at step {len(self.curve.steps)}"
        except Exception as err:  # shown to the learner, and kept for inspection
            self.error = err
            self.status.value = f"failed: {err}"
        finally:
            self.curve.redraw()
            self.start_button.disabled, self.stop_button.disabled = False, True

    def stop(self) -> None:
        """Ask the training thread to stop after its current step."""
        self._stop.set()

    def join(self, timeout: float | None = None) -> None:
        """Wait until the current run ends (or ``timeout`` seconds pass)."""
        if self._thread is not None:
            self._thread.join(timeout)


def training_dashboard(
    make_model: Callable[[], nn.Module],
    loader: Iterable[dict],
    *,
    config: train.TrainConfig | None = None,
    every_s: float = 0.5,
) -> TrainingDashboard:
    """Buttons to start and stop training a fresh model, with the loss drawn as it falls.

    Args:
        make_model: builds the model each time "start" is pressed.
        loader: the training batches.
        config: the ``TrainConfig`` of each run (its progress bar is turned off).
        every_s: the least time between two redraws of the curve.
    """
    config = config or train.TrainConfig()
    config.progress = False
    return TrainingDashboard(make_model, loader, config, every_s)
