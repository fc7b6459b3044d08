"""Shapes: procedurally rendered scenes of coloured shapes with captions that describe them.

Scenes (``xmlab.data.scenes``) hold objects, each with a shape, a colour, a size and a
position; here they become pixels and captions. With two objects the caption also says where
the first one is relative to the second:

    "a small red circle left of a large blue square"

Scenes are drawn from a seeded generator and rendered all at once with tensor operations (no
Python loop over scenes), so ten thousand 32 x 32 scenes take well under a second.

Explained in: notebooks/00_welcome.ipynb and notebooks/01_multimodal_data.ipynb
"""

from __future__ import annotations

import torch
from torch.utils.data import Dataset

from xmlab.data.grammar import describe_all, hard_negatives, render_text
from xmlab.data.scenes import (  # noqa: F401  (the world's names, re-exported as before)
    COLOURS,
    CONVERSE,
    HELDOUT_COMBOS,
    RELATIONS,
    SHAPES,
    SIZES,
    Scenes,
    canonical_order,
    sample_scenes,
)

RENDER_BLOCK_PIXELS = 1 << 22  # values rendered at once (4M: 1365 scenes of 32 x 32)
SPLIT_SEEDS = {"train": 0, "val": 1, "test": 2, "heldout": 3}  # added to the seed: own streams


def _shape_mask(shape: int, dx: torch.Tensor, dy: torch.Tensor) -> torch.Tensor:
    """Inside-mask of shape code ``shape`` at offsets (dx, dy) measured in object radii."""
    ax, ay = dx.abs(), dy.abs()
    if SHAPES[shape] == "circle":
        return dx * dx + dy * dy <= 1.0
    if SHAPES[shape] == "square":
        return torch.maximum(ax, ay) <= 0.82
    if SHAPES[shape] == "triangle":
        return (dy <= 0.75) & (ax <= 0.55 * (dy + 1.0))  # apex up at dy = -1
    if SHAPES[shape] == "diamond":
        return ax + ay <= 1.0
    return ((ax <= 0.3) & (ay <= 0.95)) | ((ay <= 0.3) & (ax <= 0.95))  # cross


def _shape_masks(dx: torch.Tensor, dy: torch.Tensor) -> torch.Tensor:
    """Inside-masks of every shape at offsets (dx, dy) measured in object radii: (S, ...)."""
    return torch.stack([_shape_mask(s, dx, dy) for s in range(len(SHAPES))])


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
    palette = torch.tensor(list(COLOURS.values()))  # (C, 3)
    rgb = palette[scenes.colour] + 0.05 * torch.randn(n, k, 3, generator=g)  # (N, K, 3) jittered
    table = torch.cat([torch.full((n, 1, 3), 0.12), rgb], 1)  # (N, 1 + K, 3) background first
    table = (table.clamp(0, 1) * 255).round().to(torch.int16).transpose(1, 2)  # (N, 3, 1 + K)
    pixels = 3 * image_size * image_size
    if noise > 0:  # a bank of at most 256 noise images, one drawn per scene: cheaper than N
        bank = torch.randn(min(n, 256), pixels, generator=g) * (noise * 255)
        bank = bank.round().to(torch.int16)  # (256, 3*H*W)
        pick = torch.randint(bank.shape[0], (n,), generator=g)  # (N,)
    images = torch.empty(n, 3, image_size, image_size, dtype=torch.uint8)
    # in blocks of scenes: the int16 and int64 intermediates stay a few MB, not ~10x the images
    block = max(1, RENDER_BLOCK_PIXELS // pixels)
    for lo in range(0, n, block):
        hi = min(n, lo + block)
        owner = _owners(scenes[lo:hi], image_size).view(hi - lo, 1, -1).long()  # (b, 1, H*W)
        out = table[lo:hi].gather(2, owner.expand(-1, 3, -1))  # (b, 3, H*W) int16
        if noise > 0:
            out += bank[pick[lo:hi]].view(hi - lo, 3, -1)
        images[lo:hi] = out.clamp(0, 255).to(torch.uint8).view(hi - lo, 3, image_size, image_size)
    return images


def _owners(scenes: Scenes, image_size: int) -> torch.Tensor:
    """Which object each pixel shows (later objects on top): ``(N, H, W)`` uint8, 0 = none.

    Each object is tested only against its own shape, grouped by shape code, so the work is
    one mask per object rather than one per object and shape.
    """
    n, k = scenes.shape.shape
    grid = (torch.arange(image_size, dtype=torch.float32) + 0.5) / image_size  # (W,)
    radius = torch.tensor(list(SIZES.values()))[scenes.size].reshape(-1, 1, 1)  # (N*K, 1, 1)
    dx = (grid.view(1, 1, -1) - scenes.x.reshape(-1, 1, 1)) / radius  # (N*K, 1, W)
    dy = (grid.view(1, -1, 1) - scenes.y.reshape(-1, 1, 1)) / radius  # (N*K, H, 1)
    inside = torch.zeros(n * k, image_size, image_size, dtype=torch.bool)  # (N*K, H, W)
    flat_shape = scenes.shape.reshape(-1)
    for code in range(len(SHAPES)):
        sel = (flat_shape == code).nonzero().squeeze(1)
        inside[sel] = _shape_mask(code, dx[sel], dy[sel])
    layer = torch.arange(1, k + 1, dtype=torch.uint8).view(1, k, 1, 1)
    return (inside.view(n, k, image_size, image_size) * layer).amax(1)


def describe_object(scenes: Scenes, i: int, k: int) -> str:
    """Words for object ``k`` of scene ``i``: ``"small red circle"``."""
    return " ".join(
        [
            list(SIZES)[scenes.size[i, k]],
            list(COLOURS)[scenes.colour[i, k]],
            SHAPES[scenes.shape[i, k]],
        ]
    )


def captions(scenes: Scenes, templates: list[int] | None = None) -> list[str]:
    """One caption per scene: ``"a small red circle left of a large blue square"``.

    With ``templates``, scene ``i`` is written with paraphrase ``templates[i]`` of the grammar
    in :mod:`xmlab.data.grammar` ("a large blue square right of a small red circle", ...);
    a third object adds ``", and a green triangle"``.
    """
    templates = [0] * len(scenes) if templates is None else templates
    return [render_text(d, t) for d, t in zip(describe_all(scenes), templates, strict=True)]


class ShapesDataset(Dataset):
    """Rendered Shapes scenes with their captions; items are dicts ``{"image", "text", "index"}``.

    ``images`` holds uint8 pixels ``(N, 3, H, W)``; ``item["image"]`` is float in [0, 1].
    """

    def __init__(
        self,
        scenes: Scenes,
        images: torch.Tensor,
        texts: list[str],
        templates: list[int] | None = None,
    ):
        if not len(scenes) == images.shape[0] == len(texts):
            raise ValueError(
                f"scenes, images and texts must have the same length: got {len(scenes)}, "
                f"{images.shape[0]} and {len(texts)}"
            )
        self.scenes, self.images, self.captions = scenes, images, texts
        self.templates = [0] * len(texts) if templates is None else templates  # paraphrase ids

    def __len__(self) -> int:
        return len(self.captions)

    def __getitem__(self, i: int) -> dict:
        return {"image": self.images[i].float() / 255, "text": self.captions[i], "index": i}

    def hard_negatives(self, *, seed: int = 0) -> list[dict[str, str | None]]:
        """Per scene, one verified-false caption of each kind (see :mod:`xmlab.data.grammar`),
        written in the same paraphrase as the scene's caption."""
        return hard_negatives(self.scenes, templates=self.templates, seed=seed)


def make_shapes(
    n: int = 2000,
    *,
    split: str = "train",
    seed: int = 0,
    image_size: int = 32,
    n_objects: int = 2,
    noise: float = 0.02,
    paraphrase: bool = False,
) -> ShapesDataset:
    """Build a Shapes split: ``n`` scenes, their images and captions.

    Splits come from different random streams of the same seed, so train, val and test
    scenes are drawn independently from the same distribution, which leaves out the
    (colour, shape) pairs of :data:`HELDOUT_COMBOS`. In the ``"heldout"`` split every scene
    shows one of those pairs: a test of compositional generalisation.

    Args:
        n: number of scenes.
        split: ``"train"``, ``"val"``, ``"test"`` or ``"heldout"``.
        seed: base seed; the same seed and split give the same scenes.
        image_size: image side in pixels.
        n_objects: objects per scene, 1 to 3 (2 or more give a relation in the caption).
        noise: pixel noise standard deviation.
        paraphrase: write each caption with a random paraphrase of the grammar instead of
            the canonical form.
    """
    if split not in SPLIT_SEEDS:
        raise ValueError(f"unknown split {split!r}: expected one of {', '.join(SPLIT_SEEDS)}")
    stream = seed * 1000 + SPLIT_SEEDS[split]
    combos = "heldout" if split == "heldout" else "seen"
    scenes = sample_scenes(n, seed=stream, n_objects=n_objects, combos=combos)
    images = render(scenes, image_size=image_size, seed=stream, noise=noise)
    n_templates = 3 if n_objects == 1 else 5
    g = torch.Generator().manual_seed(stream)
    templates = torch.randint(n_templates, (n,), generator=g).tolist() if paraphrase else None
    return ShapesDataset(scenes, images, captions(scenes, templates), templates)
