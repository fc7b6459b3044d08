"""A noise explorer: spoil the inputs with a slider and watch a metric fall along its curve.

Explained in: notebooks/05_evaluation.ipynb
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import ipywidgets as widgets
import matplotlib.pyplot as plt
import torch

from xmlab.metrics import accuracy_under_noise, add_noise
from xmlab.viz import as_hwc, figure_to_png, plot_noise_curve
from xmlab.widgets.explorers import figure_widget


class NoiseExplorer(widgets.VBox):
    """A noise slider, noisy examples, and the metric's curve with the chosen level marked;
    build it with :func:`noise_explorer`."""

    def __init__(self, score, examples: torch.Tensor, levels: list[float], name: str):
        self.score, self.examples, self.name = score, examples, name
        self.curve = accuracy_under_noise(score, levels)
        self.noise = widgets.SelectionSlider(
            options=levels, value=levels[0], description="noise std", continuous_update=False
        )
        self.noise.add_class("xmlab-noise")
        self.readout = widgets.HTML()
        self.plot = figure_widget("xmlab-noise-plot")
        self.noise.observe(lambda _: self.redraw(), names="value")
        super().__init__([self.noise, self.readout, self.plot])
        self.redraw()

    def value(self) -> float:
        """The metric at the slider's noise level (from the curve computed when built)."""
        return self.curve["score"][self.curve["noise"].index(self.noise.value)]

    def redraw(self) -> None:
        level = self.noise.value
        self.readout.value = f"{self.name} at noise {level:.2f}: <b>{self.value():.3f}</b>"
        n = len(self.examples)
        fig, axes = plt.subplots(
            1, n + 1, figsize=(1.6 * n + 4, 2.4), gridspec_kw={"width_ratios": [1] * n + [2.5]}
        )
        for i, ax in enumerate(axes[:n]):
            ax.imshow(as_hwc(add_noise(self.examples[i : i + 1], level, seed=i)[0]), cmap="gray")
            ax.axis("off")
        plot_noise_curve(self.curve, axes[n], ylabel=self.name)
        axes[n].plot([level], [self.value()], "o", color="C3", ms=10)
        self.plot.value = figure_to_png(fig)


def noise_explorer(
    score: Callable[[float], float],
    examples: torch.Tensor,
    *,
    levels: Sequence[float] = (0.0, 0.1, 0.2, 0.3, 0.5, 0.8),
    name: str = "accuracy",
) -> NoiseExplorer:
    """Compute ``score(level)`` at each noise level once, then explore the curve by slider.

    Args:
        score: noise std -> metric (spoil the evaluation inputs with ``xm.metrics.add_noise``,
            embed, measure).
        examples: a few (N, C, H, W) images in [0, 1] shown at the chosen noise.
        levels: the noise levels, increasing.
        name: what ``score`` measures, for the labels.
    """
    if examples.ndim != 4 or not 1 <= len(examples) <= 8:
        raise ValueError(
            f"pass 1 to 8 example images shaped (N, C, H, W), got {tuple(examples.shape)}"
        )
    return NoiseExplorer(score, examples, [float(x) for x in levels], name)
