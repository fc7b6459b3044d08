"""Interactive widgets for the notebooks: ipywidgets builders over the package's functions.

Each builder returns the widget; the maths it shows lives in ``xmlab.metrics``,
``xmlab.viz`` or ``xmlab.train``, and its logic is tested by setting values and clicking
buttons without a browser.

Explained in: notebooks/04_optimization.ipynb, notebooks/05_evaluation.ipynb and
notebooks/08_real_data.ipynb
"""

from xmlab.widgets.augmentation import AugmentationExplorer, augmentation_explorer
from xmlab.widgets.compositional import HardNegativeExplorer, hard_negative_explorer
from xmlab.widgets.dashboard import TrainingDashboard, training_dashboard
from xmlab.widgets.explorers import LossLab, TemperatureExplorer, loss_lab, temperature_explorer
from xmlab.widgets.retrieval import RetrievalExplorer, retrieval_explorer
from xmlab.widgets.robustness import NoiseExplorer, noise_explorer
from xmlab.widgets.training import LiveCurve, LrLab, lr_lab

__all__ = [
    "AugmentationExplorer",
    "HardNegativeExplorer",
    "LiveCurve",
    "LossLab",
    "LrLab",
    "NoiseExplorer",
    "RetrievalExplorer",
    "TemperatureExplorer",
    "TrainingDashboard",
    "augmentation_explorer",
    "hard_negative_explorer",
    "loss_lab",
    "lr_lab",
    "noise_explorer",
    "retrieval_explorer",
    "temperature_explorer",
    "training_dashboard",
]
