"""A hard-negative explorer: one scene, its caption and its false near-misses, scored by
several models side by side; write a false caption of your own and see who is fooled.

Explained in: notebooks/06_compositionality.ipynb
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import ipywidgets as widgets
import torch

from xmlab.data.grammar import is_negative
from xmlab.viz import figure_to_png
from xmlab.viz.compositional import show_caption_scores
from xmlab.widgets.explorers import figure_widget

Scorer = Callable[[torch.Tensor, Sequence[str]], torch.Tensor]


class HardNegativeExplorer(widgets.VBox):
    """A scene slider, a box for a caption of your own, the scores figure and a verdict per
    model; build it with :func:`hard_negative_explorer`."""

    def __init__(self, dataset, negatives, scorers: Mapping[str, Scorer], index: int):
        self.dataset, self.negatives, self.scorers = dataset, negatives, dict(scorers)
        self.scene = widgets.IntSlider(
            value=index, min=0, max=len(dataset) - 1, description="scene", continuous_update=False
        )
        self.scene.add_class("xmlab-hard-negative-scene")
        self.own = widgets.Text(
            placeholder="a false caption of your own", description="yours", continuous_update=False
        )
        self.verdict = widgets.HTML()
        self.plot = figure_widget("xmlab-hard-negative-plot")
        self.scene.observe(lambda _: self.redraw(), names="value")
        self.own.observe(lambda _: self.redraw(), names="value")
        super().__init__([widgets.HBox([self.scene, self.own]), self.verdict, self.plot])
        self.redraw()

    def texts(self) -> tuple[list[str], list[str]]:
        """``(labels, texts)`` of the scene: its caption, each hard negative, your caption."""
        i = self.scene.value
        found = [(k, t) for k, t in self.negatives[i].items() if t is not None]
        labels = ["caption", *(k for k, _ in found)]
        texts = [self.dataset.captions[i], *(t for _, t in found)]
        if self.own.value.strip():
            labels.append("yours")
            texts.append(self.own.value.strip())
        return labels, texts

    def scores(self) -> dict[str, list[float]]:
        """Every model's similarity of the scene's image to each text of :meth:`texts`."""
        image, texts = self.dataset.images[self.scene.value], self.texts()[1]
        return {name: score(image, texts).tolist() for name, score in self.scorers.items()}

    def fooled(self, scores: Mapping[str, Sequence[float]] | None = None) -> dict[str, int]:
        """For every model, how many false captions it scores at or above the true one."""
        scores = self.scores() if scores is None else scores
        return {name: sum(v >= s[0] for v in s[1:]) for name, s in scores.items()}

    def redraw(self) -> None:
        (labels, texts), scores = self.texts(), self.scores()
        image = self.dataset.images[self.scene.value]
        self.plot.value = figure_to_png(show_caption_scores(image, texts, scores, labels=labels))
        lines = [
            f"<b>{name}</b>: fooled by {n} of {len(texts) - 1}"
            for name, n in self.fooled(scores).items()
        ]
        if labels[-1] == "yours" and not is_negative(
            self.dataset.scenes, self.scene.value, texts[-1]
        ):
            lines.append("your caption is <b>true</b> of this scene: write a false one")
        self.verdict.value = "<br>".join(lines)


def hard_negative_explorer(
    dataset,
    negatives: Sequence[Mapping[str, str | None]],
    scorers: Mapping[str, Scorer],
    *,
    index: int = 0,
) -> HardNegativeExplorer:
    """Explore how models score a scene's caption against its hard negatives.

    Args:
        dataset: a Shapes split (``xm.data.make_shapes``).
        negatives: per scene ``{kind: caption or None}`` (``dataset.hard_negatives()``).
        scorers: model name -> ``score(image, texts)``, e.g.
            ``xm.metrics.caption_scorer(model, tokenizer)``.
        index: the scene shown first.
    """
    if len(negatives) != len(dataset):
        raise ValueError(
            f"{len(negatives)} sets of negatives for {len(dataset)} scenes: pass "
            "dataset.hard_negatives() of the same split"
        )
    if not scorers:
        raise ValueError("pass at least one model to score with, e.g. {'plain': scorer}")
    if not 0 <= index < len(dataset):
        raise ValueError(f"index must be a scene between 0 and {len(dataset) - 1}, got {index}")
    return HardNegativeExplorer(dataset, negatives, scorers, index)
