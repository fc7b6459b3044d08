"""Figures: training curves, similarity heatmaps, embedding maps, retrieval galleries, sound,
learning-rate schedules and optimiser paths, sweeps.

Every function takes ``ax=None`` (draws into a new figure when not given) and returns what it
drew on; none calls ``plt.show()``. One module per family, every name re-exported here.

Explained in: notebooks/00_welcome.ipynb and notebooks/05_evaluation.ipynb
"""

from xmlab.viz.audio import show_spectrogram, wav_bytes
from xmlab.viz.compositional import plot_kind_accuracy, show_caption_scores
from xmlab.viz.core import (
    as_hwc,
    figure_to_png,
    show_image_to_texts,
    show_images,
    show_similarity,
    show_text_to_images,
)
from xmlab.viz.evaluation import (
    plot_hard_negatives,
    plot_noise_curve,
    project_2d,
    show_confusion,
    show_embeddings_2d,
    show_retrieval,
)
from xmlab.viz.lessons import (
    plot_loss_lab,
    plot_softmax,
    row_losses,
    softmax_with_temperature,
)
from xmlab.viz.sweep import plot_sweep
from xmlab.viz.training import (
    plot_descent,
    plot_history,
    plot_lr_range,
    plot_schedule,
    plot_training,
)

__all__ = [
    "as_hwc",
    "figure_to_png",
    "plot_descent",
    "plot_hard_negatives",
    "plot_history",
    "plot_kind_accuracy",
    "plot_loss_lab",
    "plot_lr_range",
    "plot_noise_curve",
    "plot_schedule",
    "plot_softmax",
    "plot_sweep",
    "plot_training",
    "project_2d",
    "row_losses",
    "show_caption_scores",
    "show_confusion",
    "show_embeddings_2d",
    "show_image_to_texts",
    "show_images",
    "show_retrieval",
    "show_similarity",
    "show_spectrogram",
    "show_text_to_images",
    "softmax_with_temperature",
    "wav_bytes",
]
