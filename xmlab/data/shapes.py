"""Shapes: procedurally rendered scenes of coloured shapes with captions that describe them.

A scene holds objects, each with a shape, a colour, a size and a position; with two objects the
caption also says where the first one is relative to the second:

    "a small red circle left of a large blue square"

Scenes are drawn from a seeded generator and rendered all at once with tensor operations (no
Python loop over scenes), so ten thousand 32 x 32 scenes take well under a second.

Explained in: notebooks/00_welcome.ipynb and notebooks/01_multimodal_data.ipynb
"""

from __future__ import annotations

from dataclasses import dataclass, fields

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
RENDER_BLOCK_PIXELS = 1 << 22  # values rendered at once (4M: 1365 scenes of 32 x 32)
RELATIONS = ("left of", "right of", "above", "below")
SPLIT_SEEDS = {"train": 0, "val": 1, "test": 2, "heldout": 3}
HELDOUT_COMBOS = (  # (colour, shape) pairs no train/val/test scene shows: compositional test
    ("red", "triangle"),
    ("green", "square"),
    ("blue", "cross"),
    ("yellow", "diamond"),
    ("purple", "circle"),
)  # added to the seed so splits never share a stream


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

    def __getitem__(self, index: slice | torch.Tensor) -> Scenes:
        """The scenes at ``index`` (a slice, or a tensor of indices or a mask)."""
        return Scenes(*(getattr(self, f.name)[index] for f in fields(self)))


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


def _place_third(x, y, radius, r2, g, tries: int = 64, pad: float = 0.03):
    """A centre for a third object of radius ``r2`` clear of the first two: the first of
    ``tries`` random candidates with a 0.02 gap, else the candidate with the most room."""
    n = x.shape[0]
    cx = r2[:, None] + pad + (1 - 2 * (r2[:, None] + pad)) * torch.rand(n, tries, generator=g)
    cy = r2[:, None] + pad + (1 - 2 * (r2[:, None] + pad)) * torch.rand(n, tries, generator=g)
    dist = ((cx[:, :, None] - x[:, None]) ** 2 + (cy[:, :, None] - y[:, None]) ** 2).sqrt()
    room = (dist - radius[:, None] - r2[:, None, None]).amin(2)  # (N, T) gap to nearest object
    fits = room > 0.02
    pick = torch.where(fits.any(1), fits.float().argmax(1), room.argmax(1))  # (N,)
    return cx.gather(1, pick[:, None]), cy.gather(1, pick[:, None]), fits.any(1)


def _colours_for(shape: torch.Tensor, combos: str, g) -> torch.Tensor:
    """Colours for objects of ``shape``: uniform over all colours (``"any"``), or over the
    colours whose (colour, shape) pair is not in :data:`HELDOUT_COMBOS` (``"seen"``)."""
    if combos == "any":
        return torch.randint(len(COLOURS), shape.shape, generator=g)
    allowed = torch.tensor(
        [  # (S, C - 1) colour codes each shape may take
            [c for c, name in enumerate(COLOURS) if (name, s) not in HELDOUT_COMBOS][
                : len(COLOURS) - 1
            ]
            for s in SHAPES
        ]
    )
    return allowed[shape, torch.randint(allowed.shape[1], shape.shape, generator=g)]


def sample_scenes(n: int, *, seed: int = 0, n_objects: int = 2, combos: str = "any") -> Scenes:
    """Draw ``n`` random scenes of 1, 2 or 3 objects from a seeded generator.

    Every attribute is uniform and independent: any shape, colour and size can stand on either
    side of any relation, so a model has to read all of them to tell two captions apart.
    ``combos="seen"`` leaves out the (colour, shape) pairs of :data:`HELDOUT_COMBOS`;
    ``combos="heldout"`` gives the first object of every scene one of those pairs.
    """
    if n < 1:
        raise ValueError(f"n must be at least 1 scene, got {n}")
    if n_objects not in (1, 2, 3):
        raise ValueError(f"n_objects must be 1, 2 or 3, got {n_objects}")
    if combos not in ("any", "seen", "heldout"):
        raise ValueError(f"combos must be 'any', 'seen' or 'heldout', got {combos!r}")
    g = torch.Generator().manual_seed(seed)
    shape = torch.randint(len(SHAPES), (n, n_objects), generator=g)
    colour = _colours_for(shape, "any" if combos == "any" else "seen", g)
    if combos == "heldout":
        pair = torch.randint(len(HELDOUT_COMBOS), (n,), generator=g)
        shape[:, 0] = torch.tensor([SHAPES.index(s) for _, s in HELDOUT_COMBOS])[pair]
        colour[:, 0] = torch.tensor([list(COLOURS).index(c) for c, _ in HELDOUT_COMBOS])[pair]
    size = torch.randint(len(SIZES), (n, n_objects), generator=g)
    radius = torch.tensor(list(SIZES.values()))[size]  # (N, K)
    if n_objects == 1:
        x = _uniform(n, radius[:, 0] + 0.03, 1 - radius[:, 0] - 0.03, g)[:, None]
        y = _uniform(n, radius[:, 0] + 0.03, 1 - radius[:, 0] - 0.03, g)[:, None]
        return Scenes(shape, colour, size, x, y, torch.full((n,), -1))
    relation = torch.randint(len(RELATIONS), (n,), generator=g)
    x, y = _place_pair(relation, radius[:, 0], radius[:, 1], g)
    if n_objects == 3:  # a large third object that finds no room becomes small
        x3, y3, fits = _place_third(x, y, radius[:, :2], radius[:, 2], g)
        small = torch.full_like(radius[:, 2], min(SIZES.values()))
        xs, ys, _ = _place_third(x, y, radius[:, :2], small, g)
        size[:, 2] = torch.where(fits, size[:, 2], int(torch.tensor(list(SIZES.values())).argmin()))
        x = torch.cat([x, torch.where(fits[:, None], x3, xs)], 1)
        y = torch.cat([y, torch.where(fits[:, None], y3, ys)], 1)
    return canonical_order(Scenes(shape, colour, size, x, y, relation))


CONVERSE = torch.tensor([1, 0, 3, 2])  # left of <-> right of, above <-> below


def canonical_order(scenes: Scenes) -> Scenes:
    """Name the two objects of each scene in one fixed order, so a scene has exactly one caption.

    "A left of B" and "B right of A" say the same thing. The object with the smaller code
    (shape, then colour, then size) becomes the subject, and the relation is turned around when
    the objects trade places; twins (same shape, colour and size) use "left of" or "above".
    Two captions of the kit then have the same meaning exactly when they are the same text.
    """
    code = (scenes.shape * len(COLOURS) + scenes.colour) * len(SIZES) + scenes.size  # (N, K)
    swap = (code[:, 0] > code[:, 1]) | ((code[:, 0] == code[:, 1]) & (scenes.relation % 2 == 1))
    order = torch.arange(scenes.n_objects).repeat(len(scenes), 1)  # (N, K): new k = old order[k]
    order[:, 0], order[:, 1] = swap.long(), 1 - swap.long()  # a third object keeps its place
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
    from xmlab.data.grammar import describe_all, render_text  # grammar builds on this module

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
        from xmlab.data.grammar import hard_negatives

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
