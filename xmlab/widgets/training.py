"""Widgets for training: a live training curve, and a lab to try learning rates and optimisers.

``LiveCurve`` is a ``fit`` callback that redraws the loss while training runs (at most once a
``every_s`` seconds, so drawing never slows training much). ``lr_lab`` retrains a tiny model
with the optimiser and learning rate chosen on its controls and overlays the curves.

Explained in: notebooks/04_optimization.ipynb
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable

import ipywidgets as widgets
from matplotlib.figure import Figure
from torch import nn

from xmlab import train
from xmlab.train.optim import OPTIMIZERS
from xmlab.utils import seed_everything
from xmlab.viz import figure_to_png


class LiveCurve(train.Callback):
    """A ``fit`` callback that draws the loss per step, and an epoch metric, as they come.

    Show its ``widget``, then pass it to ``fit``::

        curve = LiveCurve(metric="image_to_text_R@1")
        display(curve.widget)
        xm.train.fit(model, loader, config=config, eval_fn=..., callbacks=[curve])

    Args:
        key: the step-row value to draw (``"loss"``, ``"lr"``, ``"temperature"``...).
        metric: an epoch-row value drawn on a second axis (e.g. a validation R@1), or None.
        every_s: the least time between two redraws, in seconds.
    """

    def __init__(self, *, key: str = "loss", metric: str | None = None, every_s: float = 1.0):
        self.key, self.metric, self.every_s = key, metric, every_s
        self.widget = widgets.Image(format="png")  # the figure, replaced at each redraw
        self.steps, self.values = [], []  # the step curve
        self.epoch_steps, self.metric_values = [], []  # the epoch metric
        self.draws, self._last_draw = 0, -math.inf  # the first step is always drawn
        self.fig = Figure(figsize=(6, 3))  # not pyplot: safe from a training thread too

    def on_step(self, row: dict, model: nn.Module) -> None:
        self.steps.append(row["step"])
        self.values.append(row[self.key])
        if time.perf_counter() - self._last_draw >= self.every_s:
            self.redraw()

    def on_epoch_end(self, row: dict, model: nn.Module) -> None:
        if self.metric is not None and self.metric in row:
            self.epoch_steps.append(self.steps[-1] if self.steps else row["epoch"])
            self.metric_values.append(row[self.metric])
        self.redraw()

    def redraw(self) -> None:
        """Draw the curves recorded so far into the widget."""
        self.fig.clear()
        ax = self.fig.add_subplot()
        ax.plot(self.steps, self.values, lw=1, color="C0")
        ax.set(xlabel="step", ylabel=self.key)
        if self.metric_values:
            twin = ax.twinx()
            twin.plot(self.epoch_steps, self.metric_values, "o-", color="C1")
            twin.set_ylabel(self.metric, color="C1")
        self.widget.value = figure_to_png(self.fig)
        self.draws, self._last_draw = self.draws + 1, time.perf_counter()


class LrLab(widgets.VBox):
    """Controls (optimiser, learning rate, epochs), a train button and the curves of each run.

    Build it with :func:`lr_lab`. ``runs`` holds ``(label, history)`` for every run;
    a run whose loss became NaN or infinite is kept with ``"diverged"`` in its label.
    """

    def __init__(self, make_model: Callable[[], nn.Module], loader: Iterable[dict], **options):
        self.make_model, self.loader = make_model, loader
        self.loss_fn = options.get("loss_fn", train.contrastive_loss)
        self.seed, self.device = options.get("seed", 0), options.get("device", "auto")
        self.optimizer = widgets.Dropdown(options=OPTIMIZERS, value="adam", description="optimizer")
        self.lr = widgets.FloatLogSlider(
            value=options.get("lr", 1e-3), base=10, min=-5, max=0, step=0.25, description="lr"
        )
        self.epochs = widgets.IntSlider(
            value=options.get("epochs", 2), min=1, max=20, description="epochs"
        )
        self.train_button = widgets.Button(description="train", button_style="primary")
        self.clear_button = widgets.Button(description="clear")
        self.plot = widgets.Image(format="png")  # the curves of every run
        self.runs: list[tuple[str, train.History]] = []
        self.train_button.on_click(lambda _: self.train())
        self.clear_button.on_click(lambda _: self.clear())
        controls = widgets.HBox([self.optimizer, self.lr, self.epochs])
        super().__init__(
            [controls, widgets.HBox([self.train_button, self.clear_button]), self.plot]
        )

    def train(self) -> train.History:
        """Train a fresh model with the chosen settings, add its curve and redraw."""
        seed_everything(self.seed)
        config = train.TrainConfig(
            epochs=self.epochs.value,
            lr=self.lr.value,
            optimizer=self.optimizer.value,
            device=self.device,
            progress=False,
        )
        label = f"{self.optimizer.value}, lr {self.lr.value:.1e}"
        history = train.History()  # filled step by step, so a diverged run keeps its curve
        try:
            train.fit(
                self.make_model(),
                self.loader,
                config=config,
                loss_fn=self.loss_fn,
                callbacks=[_Keep(history)],
            )
        except FloatingPointError:
            label += " (diverged)"
        self.runs.append((label, history))
        self.redraw()
        return history

    def clear(self) -> None:
        """Forget every run."""
        self.runs.clear()
        self.redraw()

    def redraw(self) -> None:
        fig = Figure(figsize=(6, 3))
        ax = fig.add_subplot()
        for label, history in self.runs:
            ax.plot(history.column("step"), history.column("loss"), lw=1, label=label)
        ax.set(xlabel="step", ylabel="training loss", yscale="log")
        if self.runs:
            ax.legend(fontsize=8)
        self.plot.value = figure_to_png(fig)


class _Keep(train.Callback):
    """Copy each row into a history as it is made."""

    def __init__(self, history: train.History):
        self.history = history

    def on_step(self, row: dict, model: nn.Module) -> None:
        self.history.steps.append(row)

    def on_epoch_end(self, row: dict, model: nn.Module) -> None:
        self.history.epochs.append(row)


def lr_lab(
    make_model: Callable[[], nn.Module],
    loader: Iterable[dict],
    *,
    loss_fn: train.LossFn = train.contrastive_loss,
    lr: float = 1e-3,
    epochs: int = 2,
    seed: int = 0,
    device: str = "auto",
) -> LrLab:
    """A widget to retrain a small model with another optimiser or learning rate in seconds.

    Args:
        make_model: builds a fresh model for every run (same seed, so runs differ only in the
            settings).
        loader: the training batches.
        loss_fn: ``loss_fn(model, batch) -> scalar``, as for ``fit``.
        lr, epochs: the initial positions of the controls.
        seed: seeds every run.
        device: where to train.

    Returns:
        The widget; display it, pick settings, press "train". Each run adds a curve.
    """
    return LrLab(
        make_model, loader, loss_fn=loss_fn, lr=lr, epochs=epochs, seed=seed, device=device
    )
