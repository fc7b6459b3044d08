"""Data the kit always has (Shapes, spoken digits), real data sets to download, and loaders.

- ``scenes.py``, ``shapes.py``, ``grammar.py``: Shapes scenes, their pixels and their captions
  (paraphrases, parsing, verified hard negatives);
- ``digits.py``, ``av_digits.py``: the tri-modal spoken digits, as samples and as tensors;
- ``download.py``: real data sets with pinned checksums, a cache and a classroom mirror;
- ``loaders.py``: collating dict batches, and a fast loader over tensors;
- ``negatives.py``: Shapes pairs with verified-false hard-negative captions, for NegCLIP.
"""

from xmlab.data import digits, download, grammar, negatives, scenes
from xmlab.data.av_digits import DIGIT_MEL, av_digits, tri_modal_digits
from xmlab.data.digits import Degradation, SpokenDigits, digit_texts
from xmlab.data.loaders import (
    TensorLoader,
    collate,
    encode_pairs,
    modality_loader,
    move_to,
    pair_loader,
)
from xmlab.data.negatives import negative_pair_loader, scene_negatives
from xmlab.data.shapes import (
    COLOURS,
    HELDOUT_COMBOS,
    RELATIONS,
    SHAPES,
    SIZES,
    Scenes,
    ShapesDataset,
    captions,
    make_shapes,
    render,
    sample_scenes,
)

__all__ = [
    "COLOURS",
    "DIGIT_MEL",
    "Degradation",
    "HELDOUT_COMBOS",
    "RELATIONS",
    "SHAPES",
    "SIZES",
    "Scenes",
    "ShapesDataset",
    "SpokenDigits",
    "TensorLoader",
    "av_digits",
    "captions",
    "collate",
    "digit_texts",
    "digits",
    "download",
    "encode_pairs",
    "grammar",
    "make_shapes",
    "modality_loader",
    "move_to",
    "negative_pair_loader",
    "negatives",
    "pair_loader",
    "render",
    "sample_scenes",
    "scene_negatives",
    "scenes",
    "tri_modal_digits",
]
