"""An augmentation explorer: switch each speech augmentation on and see and hear what it does.

Explained in: notebooks/08_real_data.ipynb
"""

from __future__ import annotations

import ipywidgets as widgets
import matplotlib.pyplot as plt
import torch

from xmlab.preprocess.speech import WordConfig, word_features
from xmlab.speech import Augment, Words
from xmlab.viz import figure_to_png, show_spectrogram, wav_bytes
from xmlab.widgets.explorers import figure_widget

SWITCHES = {  # control name -> (label, the Augment fields it sets when on)
    "shift": ("time shift ±0.1 s", {"shift": 800}),
    "speed": ("speed 0.85-1.2", {"speed": (0.85, 1.2)}),
    "noise": ("noise at 10-40 dB SNR", {"snr_db": (10.0, 40.0)}),
    "gain": ("loudness contour ±10 dB", {"gain_db": 10.0}),
    "eq": ("microphone colour ±10 dB", {"eq_db": 10.0}),
    "time_masks": ("time masks 2 x 4 frames", {"time_masks": (2, 4)}),
    "freq_masks": ("mel masks 2 x 3 bands", {"freq_masks": (2, 3)}),
}


class AugmentationExplorer(widgets.VBox):
    """A checkbox per augmentation, a "new draw" button, the spectrogram before and after, and
    the augmented clip to play; build it with :func:`augmentation_explorer`."""

    def __init__(self, words: Words, index: int, config: WordConfig, seed: int):
        self.words, self.index, self.config, self.seed = words, index, config, seed
        self.switches = {name: widgets.Checkbox(description=label, value=False)
                         for name, (label, _) in SWITCHES.items()}  # fmt: skip
        self.draw = widgets.Button(description="new draw")
        self.draw.add_class("xmlab-augment-draw")
        self.plot = figure_widget("xmlab-augment-plot")
        self.audio = widgets.Audio(format="wav", autoplay=False)
        for box in self.switches.values():
            box.observe(lambda _: self.redraw(), names="value")
        self.draw.on_click(lambda _: self.new_draw())
        controls = widgets.HBox([widgets.VBox(list(self.switches.values())), self.draw])
        super().__init__([controls, self.plot, self.audio])
        self.redraw()

    def augment(self) -> Augment:
        """The :class:`~xmlab.speech.Augment` the ticked boxes describe."""
        fields = {}
        for name, box in self.switches.items():
            if box.value:
                fields.update(SWITCHES[name][1])
        return Augment(**fields)

    def new_draw(self) -> None:
        self.seed += 1
        self.redraw()

    def redraw(self) -> None:
        length = self.words.lengths[self.index : self.index + 1]
        wave = self.words.waves[self.index : self.index + 1, : int(length)]  # (1, T)
        g = torch.Generator().manual_seed(self.seed)
        policy = self.augment()
        new_wave, new_length = policy.waves(wave, length, g)
        before = word_features(wave, length, self.config)[0]
        after = policy.specs(word_features(new_wave, new_length, self.config), g)[0]
        fig, axes = plt.subplots(1, 2, figsize=(8, 2.6))
        show_spectrogram(before, axes[0], title=f"digit {int(self.words.labels[self.index])}")
        show_spectrogram(after, axes[1], title="augmented")
        for ax in axes:
            ax.set_xlabel("frame (resampled to a fixed count)")
        self.plot.value = figure_to_png(fig)
        self.audio.value = wav_bytes(new_wave[0, : int(new_length)], self.config.sample_rate)


def augmentation_explorer(
    words: Words, *, index: int = 0, config: WordConfig | None = None, seed: int = 0
) -> AugmentationExplorer:
    """Explore the augmentations of :class:`xmlab.speech.Augment` on clip ``index`` of ``words``."""
    if not 0 <= index < len(words):
        raise ValueError(f"index must be in 0..{len(words) - 1}, got {index}")
    return AugmentationExplorer(words, index, config or WordConfig(), seed)
