"""Data the kit always has (Shapes, spoken digits), real data sets to download, and loaders."""

from xmlab.data import digits, download, grammar, negatives
from xmlab.data.digits import Degradation, SpokenDigits, digit_texts
from xmlab.data.loaders import TensorLoader, collate, encode_pairs, modality_loader, pair_loader
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
    "Degradation",
    "HELDOUT_COMBOS",
    "RELATIONS",
    "SHAPES",
    "SIZES",
    "Scenes",
    "ShapesDataset",
    "SpokenDigits",
    "TensorLoader",
    "captions",
    "collate",
    "digit_texts",
    "digits",
    "download",
    "encode_pairs",
    "grammar",
    "make_shapes",
    "modality_loader",
    "negative_pair_loader",
    "negatives",
    "pair_loader",
    "render",
    "sample_scenes",
    "scene_negatives",
]
