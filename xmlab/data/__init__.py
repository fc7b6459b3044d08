"""Data the kit always has, as dict samples, and the loaders that batch them."""

from xmlab.data.loaders import TensorLoader, collate, encode_pairs, pair_loader
from xmlab.data.shapes import (
    COLOURS,
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
    "RELATIONS",
    "SHAPES",
    "SIZES",
    "Scenes",
    "ShapesDataset",
    "TensorLoader",
    "captions",
    "collate",
    "encode_pairs",
    "make_shapes",
    "pair_loader",
    "render",
    "sample_scenes",
]
