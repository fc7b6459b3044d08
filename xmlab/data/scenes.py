"""Shapes scenes as numbers: which objects a scene holds, where, and how they relate.

A scene holds objects, each with a shape, a colour, a size and a position; with two objects
the first one stands in a relation to the second ("left of", "above", ...). This module draws
scenes from a seeded generator, all at once with tensor operations; ``xmlab.data.shapes``
renders them to pixels and ``xmlab.data.grammar`` writes them as captions.

Explained in: notebooks/00_welcome.ipynb and notebooks/01_multimodal_data.ipynb
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch

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
CONVERSE = {"left of": "right of", "right of": "left of", "above": "below", "below": "above"}
HELDOUT_COMBOS = (  # (colour, shape) pairs no train/val/test scene shows: compositional test
    ("red", "triangle"),
    ("green", "square"),
    ("blue", "cross"),
    ("yellow", "diamond"),
    ("purple", "circle"),
)


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


_CONVERSE_IDS = torch.tensor([RELATIONS.index(CONVERSE[r]) for r in RELATIONS])  # (4,)


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
    relation = torch.where(swap, _CONVERSE_IDS[scenes.relation], scenes.relation)
    return Scenes(
        pick(scenes.shape),
        pick(scenes.colour),
        pick(scenes.size),
        pick(scenes.x),
        pick(scenes.y),
        relation,
    )
