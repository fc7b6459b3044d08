"""Two widgets to feel the contrastive loss: the softmax temperature, and CLIP vs SigLIP.

Each builder returns a widget whose controls redraw a figure of ``xmlab.viz.lessons``; the
figures are PNG images in an ``ipywidgets.Image``, so they update the same way in JupyterLab,
Colab and a headless test that sets a control's ``value``.

Explained in: notebooks/05_evaluation.ipynb
"""

from __future__ import annotations

from collections.abc import Sequence

import ipywidgets as widgets

from xmlab.viz import figure_to_png, plot_loss_lab, plot_softmax, row_losses


def figure_widget(css_class: str) -> widgets.Image:
    """An empty PNG image widget tagged with ``css_class`` (tests find it by that class)."""
    image = widgets.Image(format="png", layout=widgets.Layout(max_width="720px"))
    image.add_class(css_class)
    return image


def temperature_slider(value: float, *, min_exp: int, max_exp: int) -> widgets.FloatLogSlider:
    """A log-scale slider for the temperature, from ``10**min_exp`` to ``10**max_exp``."""
    return widgets.FloatLogSlider(
        value=value,
        base=10,
        min=min_exp,
        max=max_exp,
        step=0.05,
        description="temperature",
        continuous_update=False,
        readout_format=".3f",
    )


class TemperatureExplorer(widgets.VBox):
    """A temperature slider over ``softmax(similarity / temperature)`` of one query row."""

    def __init__(self, similarities: Sequence[float], labels: Sequence[str] | None, tau: float):
        self.similarities, self.labels = [float(s) for s in similarities], labels
        self.temperature = temperature_slider(tau, min_exp=-3, max_exp=1)
        self.temperature.add_class("xmlab-temperature")
        self.plot = figure_widget("xmlab-temperature-plot")
        self.temperature.observe(lambda _: self.redraw(), names="value")
        super().__init__([self.temperature, self.plot])
        self.redraw()

    def redraw(self) -> None:
        self.plot.value = figure_to_png(
            plot_softmax(self.similarities, self.temperature.value, labels=self.labels)
        )


def temperature_explorer(
    similarities: Sequence[float] = (0.62, 0.55, 0.30, 0.12, -0.05),
    *,
    labels: Sequence[str] | None = None,
    temperature: float = 0.07,
) -> TemperatureExplorer:
    """Slide the temperature and watch one row of similarities become probabilities.

    Args:
        similarities: cosine similarities of one query with its candidates (positive first).
        labels: a name per candidate (e.g. the captions).
        temperature: the slider's starting value (CLIP starts at 0.07).
    """
    if len(similarities) < 2:
        raise ValueError("pass at least two similarities: a softmax over one item is always 1")
    return TemperatureExplorer(similarities, labels, temperature)


class LossLab(widgets.VBox):
    """Sliders for the similarity of one positive and several negatives, the temperature and
    SigLIP's bias; shows both losses and their gradients."""

    def __init__(self, similarities: Sequence[float], temperature: float, bias: float):
        def slider(value, description):
            return widgets.FloatSlider(
                value=value,
                min=-1,
                max=1,
                step=0.05,
                description=description,
                continuous_update=False,
            )

        self.positive = slider(similarities[0], "positive")
        self.negatives = [slider(s, f"negative {j}") for j, s in enumerate(similarities[1:], 1)]
        self.temperature = temperature_slider(temperature, min_exp=-2, max_exp=0)
        self.bias = widgets.FloatSlider(
            value=bias, min=-15, max=5, step=0.5, description="bias", continuous_update=False
        )
        self.readout = widgets.HTML()
        self.plot = figure_widget("xmlab-loss-lab-plot")
        for control in [self.positive, *self.negatives, self.temperature, self.bias]:
            control.observe(lambda _: self.redraw(), names="value")
        controls = widgets.VBox([self.positive, *self.negatives])
        super().__init__(
            [
                widgets.HBox([controls, widgets.VBox([self.temperature, self.bias])]),
                self.readout,
                self.plot,
            ]
        )
        self.redraw()

    def similarities(self) -> list[float]:
        return [self.positive.value] + [n.value for n in self.negatives]

    def losses(self) -> dict:
        """The two losses and gradients at the current slider positions."""
        return row_losses(
            self.similarities(), temperature=self.temperature.value, bias=self.bias.value
        )

    def redraw(self) -> None:
        out = self.losses()
        self.readout.value = (
            f"<b>CLIP</b> {out['clip']:.3f} &nbsp; <b>SigLIP</b> {out['siglip']:.3f}"
        )
        self.plot.value = figure_to_png(
            plot_loss_lab(
                self.similarities(), temperature=self.temperature.value, bias=self.bias.value
            )
        )


def loss_lab(
    similarities: Sequence[float] = (0.5, 0.3, 0.1, -0.2),
    *,
    temperature: float = 0.1,
    bias: float = -5.0,
) -> LossLab:
    """Move a positive's and the negatives' similarities; watch CLIP and SigLIP respond.

    CLIP's gradient on a negative depends on the *other* negatives (they share one softmax);
    SigLIP's does not (one sigmoid per pair). Drag a negative above the positive and compare.

    Args:
        similarities: the positive's similarity first, then one per negative (2 to 8 items).
        temperature, bias: the starting temperature and SigLIP's bias.
    """
    if not 2 <= len(similarities) <= 8:
        raise ValueError(f"pass 2 to 8 similarities (positive first), got {len(similarities)}")
    return LossLab(similarities, temperature, bias)
