"""Shapes: procedurally rendered scenes of coloured shapes with captions that describe them.

A scene holds objects, each with a shape, a colour, a size and a position; with two objects the
caption also says where the first one is relative to the second:

    "a small red circle left of a large blue square"

Scenes are drawn from a seeded generator and rendered all at once with tensor operations (no
Python loop over scenes), so ten thousand 32 x 32 scenes take well under a second.

Explained in: notebooks/00_welcome.ipynb and notebooks/01_multimodal_data.ipynb
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.utils.data import Dataset

SHAPES = ("circle", "square", "triangle", "diamond", "cross")
COLOURS = {  # name -> RGB in [0, 1]
    "red": (0.90, 0.15, 0.15),
    "green": (0.15, 0.75, 0.20),
    "blue": (0.20, 0.35, 0.95),
    "yellow": (0.95, 0.85, 0.15),
    "purple": (0.60, 0.25, 0.85),
    "cyan": (0.15, 0.80, 0.85),
}
SIZES = {"small": 0.11, "large": 0.19}  # name -> radius as a fraction of the image side
RELATIONS = ("left of", "right of", "above", "below")
SPLIT_SEEDS = {"train": 0, "val": 1, "test": 2}  # added to the seed so splits never share a stream


@dataclass
class Scenes:
    """The description of ``N`` scenes with ``K`` objects each (all integer codes index the
    tuples above: ``SHAPES[shape[i, k]]``; positions are object centres in [0, 1], y down)."""

    shape: torch.Tensor  # (N, K) long
    colour: torch.Tensor  # (N, K) long
    size: torch.Tensor  # (N, K) long
    x: torch.Tensor  # (N, K) float, 0 = left edge
    y: torch.Tensor  # (N, K) float, 0 = top edge
    relation: torch.Tensor  # (N,) long, where object 0 is relative to object 1 (-1: no relation)

    def __len__(self) -> int:
        return self.shape.shape[0]

    @property
    def n_objects(self) -> int:
        return self.shape.shape[1]


def _uniform(n: int, low: torch.Tensor | float, high: torch.Tensor | float, g) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=g)


def _place_pair(rel: torch.Tensor, r0: torch.Tensor, r1: torch.Tensor, g, pad: float = 0.03):
    """Centres for two objects so that object 0 stands in relation ``rel`` to object 1.

    Along the relation's axis the objects are separated by a clear gap; across it they stay
    within 0.4 gap of each other, so "left of" never looks like "above".
    """
    n = rel.shape[0]
    toward_origin = (rel == 0) | (rel == 2)  # left of / above: object 0 has the smaller coordinate
    r_first = torch.where(toward_origin, r0, r1)  # radius of the object nearer the origin
    r_second = torch.where(toward_origin, r1, r0)
    min_gap = r_first + r_second + 0.05
    max_gap = 1 - 2 * pad - r_first - r_second  # centre distance when both touch the borders
    gap = _uniform(n, min_gap, max_gap, g)  # (N,)
    first = _uniform(n, r_first + pad, 1 - pad - r_second - gap, g)
    second = first + gap
    across0 = _uniform(n, r0 + pad, 1 - r0 - pad, g)
    across1 = (across0 + _uniform(n, -0.4, 0.4, g) * gap).clamp(r1 + pad, 1 - r1 - pad)
    along0 = torch.where(toward_origin, first, second)
    along1 = torch.where(toward_origin, second, first)
    horizontal = rel < 2
    x = torch.stack(
        [torch.where(horizontal, along0, across0), torch.where(horizontal, along1, across1)], 1
    )
    y = torch.stack(
        [torch.where(horizontal, across0, along0), torch.where(horizontal, across1, along1)], 1
    )
    return x, y  # (N, 2) each


def sample_scenes(n: int, *, seed: int = 0, n_objects: int = 2) -> Scenes:
    """Draw ``n`` random two-object scenes (or one-object scenes) from a seeded generator.

    Every attribute is uniform and independent: any shape, colour and size can stand on either
    side of any relation, so a model has to read all of them to tell two captions apart.
    """
    if n < 1:
        raise ValueError(f"n must be at least 1 scene, got {n}")
    if n_objects not in (1, 2):
        raise ValueError(f"n_objects must be 1 or 2 here, got {n_objects}")
    g = torch.Generator().manual_seed(seed)
    shape = torch.randint(len(SHAPES), (n, n_objects), generator=g)
    colour = torch.randint(len(COLOURS), (n, n_objects), generator=g)
    size = torch.randint(len(SIZES), (n, n_objects), generator=g)
    radius = torch.tensor(list(SIZES.values()))[size]  # (N, K)
    if n_objects == 1:
        x = _uniform(n, radius[:, 0] + 0.03, 1 - radius[:, 0] - 0.03, g)[:, None]
        y = _uniform(n, radius[:, 0] + 0.03, 1 - radius[:, 0] - 0.03, g)[:, None]
        return Scenes(shape, colour, size, x, y, torch.full((n,), -1))
    relation = torch.randint(len(RELATIONS), (n,), generator=g)
    x, y = _place_pair(relation, radius[:, 0], radius[:, 1], g)
    return canonical_order(Scenes(shape, colour, size, x, y, relation))


CONVERSE = torch.tensor([1, 0, 3, 2])  # left of <-> right of, above <-> below


def canonical_order(scenes: Scenes) -> Scenes:
    """Name the two objects of each scene in one fixed order, so a scene has exactly one caption.

    "A left of B" and "B right of A" say the same thing. The object with the smaller code
    (shape, then colour, then size) becomes the subject, and the relation is turned around when
    the objects trade places; twins (same shape, colour and size) use "left of" or "above".
    Two captions of the kit then have the same meaning exactly when they are the same text.
    """
    code = (scenes.shape * len(COLOURS) + scenes.colour) * len(SIZES) + scenes.size  # (N, 2)
    swap = (code[:, 0] > code[:, 1]) | ((code[:, 0] == code[:, 1]) & (scenes.relation % 2 == 1))
    order = torch.stack([swap.long(), 1 - swap.long()], 1)  # (N, 2): new object k = old order[k]
    pick = lambda t: t.gather(1, order)
    relation = torch.where(swap, CONVERSE[scenes.relation], scenes.relation)
    return Scenes(
        pick(scenes.shape),
        pick(scenes.colour),
        pick(scenes.size),
        pick(scenes.x),
        pick(scenes.y),
        relation,
    )


def _shape_masks(dx: torch.Tensor, dy: torch.Tensor) -> torch.Tensor:
    """Inside-masks of every shape at offsets (dx, dy) measured in object radii: (S, ...)."""
    ax, ay = dx.abs(), dy.abs()
    circle = dx * dx + dy * dy <= 1.0
    square = torch.maximum(ax, ay) <= 0.82
    triangle = (dy <= 0.75) & (ax <= 0.55 * (dy + 1.0))  # apex up at dy = -1
    diamond = ax + ay <= 1.0
    cross = ((ax <= 0.3) & (ay <= 0.95)) | ((ay <= 0.3) & (ax <= 0.95))
    return torch.stack([circle, square, triangle, diamond, cross])


def render(
    scenes: Scenes, *, image_size: int = 32, seed: int = 0, noise: float = 0.02
) -> torch.Tensor:
    """Render scenes to uint8 images, all scenes at once.

    Args:
        scenes: the scene descriptions.
        image_size: side of the square image in pixels (16 or more).
        seed: seeds the colour jitter and pixel noise.
        noise: standard deviation of Gaussian pixel noise (0 for clean images).

    Returns:
        ``(N, 3, image_size, image_size)`` uint8 tensor.
    """
    if image_size < 16:
        raise ValueError(f"image_size must be at least 16 pixels to draw shapes, got {image_size}")
    g = torch.Generator().manual_seed(seed)
    n, k = scenes.shape.shape
    grid = (torch.arange(image_size, dtype=torch.float32) + 0.5) / image_size  # (W,)
    radius = torch.tensor(list(SIZES.values()))[scenes.size][..., None, None]  # (N, K, 1, 1)
    dx = (grid[None, None, None, :] - scenes.x[..., None, None]) / radius  # (N, K, 1, W)
    dy = (grid[None, None, :, None] - scenes.y[..., None, None]) / radius  # (N, K, H, 1)
    masks = _shape_masks(dx, dy)  # (S, N, K, H, W)
    inside = masks.gather(
        0, scenes.shape[None, :, :, None, None].expand(1, n, k, image_size, image_size)
    )[0]
    palette = torch.tensor(list(COLOURS.values()))  # (C, 3)
    rgb = palette[scenes.colour] + 0.05 * torch.randn(n, k, 3, generator=g)  # (N, K, 3) jittered
    images = torch.full((n, 3, image_size, image_size), 0.12)
    for obj in range(k):  # at most two objects: paint them in order
        images = torch.where(inside[:, obj, None], rgb[:, obj, :, None, None], images)
    images = images + noise * torch.randn(images.shape, generator=g)
    return (images.clamp(0, 1) * 255).round().to(torch.uint8)


def describe_object(scenes: Scenes, i: int, k: int) -> str:
    """Words for object ``k`` of scene ``i``: ``"small red circle"``."""
    return " ".join(
        [
            list(SIZES)[scenes.size[i, k]],
            list(COLOURS)[scenes.colour[i, k]],
            SHAPES[scenes.shape[i, k]],
        ]
    )


def captions(scenes: Scenes) -> list[str]:
    """One caption per scene: ``"a small red circle left of a large blue square"``."""
    out = []
    for i in range(len(scenes)):
        text = "a " + describe_object(scenes, i, 0)
        if scenes.n_objects == 2:
            text += f" {RELATIONS[scenes.relation[i]]} a " + describe_object(scenes, i, 1)
        out.append(text)
    return out


class ShapesDataset(Dataset):
    """Rendered Shapes scenes with their captions; items are dicts ``{"image", "text", "index"}``.

    ``images`` holds uint8 pixels ``(N, 3, H, W)``; ``item["image"]`` is float in [0, 1].
    """

    def __init__(self, scenes: Scenes, images: torch.Tensor, texts: list[str]):
        if not len(scenes) == images.shape[0] == len(texts):
            raise ValueError(
                f"scenes, images and texts must have the same length: got {len(scenes)}, "
                f"{images.shape[0]} and {len(texts)}"
            )
        self.scenes, self.images, self.captions = scenes, images, texts

    def __len__(self) -> int:
        return len(self.captions)

    def __getitem__(self, i: int) -> dict:
        return {"image": self.images[i].float() / 255, "text": self.captions[i], "index": i}


def make_shapes(
    n: int = 2000,
    *,
    split: str = "train",
    seed: int = 0,
    image_size: int = 32,
    n_objects: int = 2,
    noise: float = 0.02,
) -> ShapesDataset:
    """Build a Shapes split: ``n`` scenes, their images and captions.

    Splits come from different random streams of the same seed, so train, val and test
    scenes are drawn independently from the same distribution.

    Args:
        n: number of scenes.
        split: ``"train"``, ``"val"`` or ``"test"``.
        seed: base seed; the same seed and split give the same scenes.
        image_size: image side in pixels.
        n_objects: objects per scene (2 gives a relation in the caption).
        noise: pixel noise standard deviation.
    """
    if split not in SPLIT_SEEDS:
        raise ValueError(f"unknown split {split!r}: expected one of {', '.join(SPLIT_SEEDS)}")
    stream = seed * 1000 + SPLIT_SEEDS[split]
    scenes = sample_scenes(n, seed=stream, n_objects=n_objects)
    images = render(scenes, image_size=image_size, seed=stream, noise=noise)
    return ShapesDataset(scenes, images, captions(scenes))
