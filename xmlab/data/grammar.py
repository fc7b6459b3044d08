"""The Shapes caption grammar: paraphrases, parsing, truth against a scene, and hard negatives.

A caption states a *description*: objects (size, colour, shape) and, for two or more objects,
where the first stands relative to the second. The grammar writes one description in several
ways ("a small red circle left of a large blue square" = "a large blue square right of a small
red circle"), parses them back, and checks a description against a scene's geometry.

Hard negatives (after ARO, Yuksekgonul et al., ICLR 2023) change the description minimally --
swap an attribute between the objects, swap the relation, edit one attribute, replace an object,
shuffle the words -- and are kept only if the scene makes them *false*: swapping the colours of
two red objects, or a shuffle that reads as another true caption, is not a negative.

Explained in: notebooks/01_multimodal_data.ipynb and notebooks/05_evaluation.ipynb
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

import numpy as np
import torch

from xmlab.data.scenes import (
    COLOURS,
    CONVERSE,
    HELDOUT_COMBOS,
    RELATIONS,
    SHAPES,
    SIZES,
    Scenes,
    canonical_order,
)

PAIR_TEMPLATES = (  # {a} stands {rel} to {b}; {conv} is the converse relation
    "a {a} {rel} a {b}",
    "there is a {a} {rel} a {b}",
    "a {b} {conv} a {a}",
    "the {a} is {rel} the {b}",
    "a {b} with a {a} {rel} it",
)
SINGLE_TEMPLATES = ("a {a}", "there is a {a}", "a picture of a {a}")
THIRD = ", and a {c}"  # appended for a third object
NEGATIVE_KINDS = ("attribute_swap", "relation_swap", "attribute_edit", "object_replace", "shuffle")
ATTRIBUTES = (tuple(SIZES), tuple(COLOURS), SHAPES)  # value names, in the order of an object


@dataclass(frozen=True)
class Description:
    """What a caption claims: objects as (size, colour, shape) names; ``objects[0] relation
    objects[1]`` when ``relation`` is set; any further object is only said to be there."""

    objects: tuple[tuple[str, str, str], ...]
    relation: str | None = None

    def canonical(self) -> Description:
        """The same claim with "left of" or "above": "B right of A" becomes "A left of B"."""
        if self.relation not in ("right of", "below"):
            return self
        a, b, *rest = self.objects
        return Description((b, a, *rest), CONVERSE[self.relation])


def scene_objects(scenes: Scenes, i: int) -> list[tuple[tuple[str, str, str], float, float]]:
    """Objects of scene ``i`` as ``((size, colour, shape), x, y)``."""
    attrs = zip(
        *(scenes.size[i].tolist(), scenes.colour[i].tolist(), scenes.shape[i].tolist()), strict=True
    )
    names = [tuple(ATTRIBUTES[a][v] for a, v in enumerate(obj)) for obj in attrs]
    return list(zip(names, scenes.x[i].tolist(), scenes.y[i].tolist(), strict=True))


def describe(scenes: Scenes, i: int) -> Description:
    """The description a scene was generated from (object 0 relative to object 1)."""
    objects = tuple(obj for obj, _, _ in scene_objects(scenes, i))
    rel = int(scenes.relation[i])
    return Description(objects, RELATIONS[rel] if rel >= 0 else None)


def describe_all(scenes: Scenes) -> list[Description]:
    """:func:`describe` for every scene, converting the tensors to lists once."""
    size, colour, shape = scenes.size.tolist(), scenes.colour.tolist(), scenes.shape.tolist()
    out = []
    for i, rel in enumerate(scenes.relation.tolist()):
        objects = tuple(
            (ATTRIBUTES[0][s], ATTRIBUTES[1][c], ATTRIBUTES[2][h])
            for s, c, h in zip(size[i], colour[i], shape[i], strict=True)
        )
        out.append(Description(objects, RELATIONS[rel] if rel >= 0 else None))
    return out


def relation_holds(first: tuple[float, float], second: tuple[float, float], relation: str) -> bool:
    """Whether ``first`` (x, y) is ``relation`` ``second``, judged on the dominant axis (y down)."""
    dx, dy = first[0] - second[0], first[1] - second[1]
    horizontal = abs(dx) > abs(dy)
    return {
        "left of": horizontal and dx < 0,
        "right of": horizontal and dx > 0,
        "above": not horizontal and dy < 0,
        "below": not horizontal and dy > 0,
    }[relation]


def holds(scenes: Scenes, i: int, desc: Description) -> bool:
    """True when scene ``i`` has distinct objects that match ``desc`` and its relation."""
    objs = scene_objects(scenes, i)

    def search(k: int, used: tuple[int, ...]) -> bool:
        if k == len(desc.objects):
            if desc.relation is None or len(used) < 2:
                return True
            a, b = objs[used[0]], objs[used[1]]
            return relation_holds(a[1:], b[1:], desc.relation)
        return any(
            search(k + 1, (*used, j))
            for j, (attrs, _, _) in enumerate(objs)
            if j not in used and attrs == desc.objects[k]
        )

    return search(0, ())


def render_text(desc: Description, template: int = 0) -> str:
    """Write ``desc`` with paraphrase number ``template`` (0 is the canonical caption)."""
    phrase = [" ".join(obj) for obj in desc.objects]
    if desc.relation is None:
        text = SINGLE_TEMPLATES[template % len(SINGLE_TEMPLATES)].format(a=phrase[0])
    else:
        text = PAIR_TEMPLATES[template % len(PAIR_TEMPLATES)].format(
            a=phrase[0], b=phrase[1], rel=desc.relation, conv=CONVERSE[desc.relation]
        )
    return text + "".join(THIRD.format(c=p) for p in phrase[2:])


def paraphrases(desc: Description) -> list[str]:
    """Every way the grammar writes ``desc``."""
    n = len(SINGLE_TEMPLATES) if desc.relation is None else len(PAIR_TEMPLATES)
    return [render_text(desc, t) for t in range(n)]


def _pattern(template: str) -> re.Pattern:
    obj = rf"({'|'.join(SIZES)}) ({'|'.join(COLOURS)}) ({'|'.join(SHAPES)})"
    rel = f"({'|'.join(RELATIONS)})"
    body = re.escape(template).replace(r"\{a\}", f"(?P<a>{obj})").replace(r"\{b\}", f"(?P<b>{obj})")
    body = body.replace(r"\{rel\}", f"(?P<rel>{rel})").replace(r"\{conv\}", f"(?P<conv>{rel})")
    return re.compile(f"^{body}(?P<rest>(, and a {obj})*)$")


_PATTERNS = [(t, _pattern(t)) for t in PAIR_TEMPLATES + SINGLE_TEMPLATES]


def parse(text: str) -> Description | None:
    """Read a caption back into a :class:`Description`; ``None`` if the grammar cannot read it."""
    for _, pattern in _PATTERNS:
        m = pattern.match(text.strip().lower())
        if m is None:
            continue
        extra = [tuple(p.split()) for p in m["rest"].split(", and a ")[1:]]
        a = tuple(m["a"].split())
        if "rel" not in pattern.groupindex and "conv" not in pattern.groupindex:
            return Description((a, *extra))
        b = tuple(m["b"].split())
        if m.groupdict().get("rel"):
            return Description((a, b, *extra), m["rel"])
        return Description((a, b, *extra), CONVERSE[m["conv"]])  # "a B right of a A"
    return None


def _attribute_swap(desc: Description, rng) -> Description | None:
    if len(desc.objects) < 2:
        return None
    a, b = desc.objects[:2]
    differ = [k for k in range(3) if a[k] != b[k]]
    if not differ:
        return None
    k = int(rng.choice(differ))
    a2, b2 = list(a), list(b)
    a2[k], b2[k] = b[k], a[k]
    return replace(desc, objects=(tuple(a2), tuple(b2), *desc.objects[2:]))


def _relation_swap(desc: Description, rng) -> Description | None:
    if desc.relation is None:
        return None
    if rng.random() < 0.5:  # subject and object exchanged
        return replace(desc, objects=(desc.objects[1], desc.objects[0], *desc.objects[2:]))
    return replace(desc, relation=CONVERSE[desc.relation])  # converse relation


def _attribute_edit(desc: Description, rng) -> Description | None:
    k, attr = int(rng.integers(len(desc.objects))), int(rng.integers(3))
    obj = list(desc.objects[k])
    obj[attr] = str(rng.choice([v for v in ATTRIBUTES[attr] if v != obj[attr]]))
    return replace(desc, objects=(*desc.objects[:k], tuple(obj), *desc.objects[k + 1 :]))


def _object_replace(desc: Description, rng) -> Description | None:
    k = int(rng.integers(len(desc.objects)))
    new = tuple(str(rng.choice(values)) for values in ATTRIBUTES)
    if new == desc.objects[k] or new[2] == desc.objects[k][2]:
        return None  # a replaced object is a different kind of thing
    return replace(desc, objects=(*desc.objects[:k], new, *desc.objects[k + 1 :]))


_EDITS = {
    "attribute_swap": _attribute_swap,
    "relation_swap": _relation_swap,
    "attribute_edit": _attribute_edit,
    "object_replace": _object_replace,
}


def is_negative(scenes: Scenes, i: int, text: str) -> bool:
    """A caption is a valid negative for scene ``i`` unless the grammar reads it as true there."""
    desc = parse(text)
    return desc is None or not holds(scenes, i, desc)


def hard_negative(
    scenes: Scenes, i: int, kind: str, *, template: int = 0, rng=None, tries: int = 20
) -> str | None:
    """One verified-false caption of ``kind`` for scene ``i``, or ``None`` when none exists.

    The negative is written with the same paraphrase ``template`` as the true caption, so the
    two differ only in what they claim (or, for ``"shuffle"``, only in word order).
    """
    if kind not in NEGATIVE_KINDS:
        raise ValueError(f"kind must be one of {NEGATIVE_KINDS}, got {kind!r}")
    rng = rng if rng is not None else np.random.default_rng(i)
    desc = describe(scenes, i)
    for _ in range(tries):
        if kind == "shuffle":
            text = " ".join(rng.permutation(render_text(desc, template).split()))
        else:
            edited = _EDITS[kind](desc, rng)
            if edited is None:
                continue
            text = render_text(edited, template)
        if is_negative(scenes, i, text):
            return text
    return None


def hard_negatives(
    scenes: Scenes, *, templates: list[int] | None = None, seed: int = 0
) -> list[dict[str, str | None]]:
    """For every scene, one verified-false caption of each kind in :data:`NEGATIVE_KINDS`."""
    rng = np.random.default_rng(seed)
    templates = templates or [0] * len(scenes)
    return [
        {k: hard_negative(scenes, i, k, template=templates[i], rng=rng) for k in NEGATIVE_KINDS}
        for i in range(len(scenes))
    ]


def object_kinds(combos: str = "seen") -> list[tuple[int, int, int]]:
    """Every (shape, colour, size) code an object can take: all of them (``"any"``), or those
    outside :data:`HELDOUT_COMBOS` (``"seen"``, the train / val / test splits)."""
    if combos not in ("any", "seen"):
        raise ValueError(f"combos must be 'any' or 'seen', got {combos!r}")
    colours = list(COLOURS)
    return [
        (s, c, z)
        for s in range(len(SHAPES))
        for c in range(len(colours))
        for z in range(len(SIZES))
        if combos == "any" or (colours[c], SHAPES[s]) not in HELDOUT_COMBOS
    ]


def possible_captions(combos: str = "seen") -> list[str]:
    """Every canonical caption of a two-object scene: each pair of object kinds in each relation,
    named in the kit's fixed order (:func:`~xmlab.data.scenes.canonical_order`), written once."""
    kinds = object_kinds(combos)
    pairs = torch.tensor([(*a, *b, r) for a in kinds for b in kinds for r in range(len(RELATIONS))])
    two = lambda col: pairs[:, [col, col + 3]]  # (N, 2): the attribute of both objects
    zeros = torch.zeros(len(pairs), 2)  # positions play no part in the caption
    scenes = canonical_order(Scenes(two(0), two(1), two(2), zeros, zeros, pairs[:, 6]))
    return sorted({render_text(desc) for desc in describe_all(scenes)})
