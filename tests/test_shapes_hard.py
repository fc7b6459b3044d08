"""Shapes caption grammar and hard negatives: paraphrases stay true, negatives are really false."""

import math
from collections import Counter
from itertools import permutations

import numpy as np
import pytest
import torch

from xmlab.data import grammar as G
from xmlab.data.shapes import COLOURS, SHAPES, SIZES, Scenes, make_shapes, sample_scenes


def make_scene(objects, xy, relation=0):
    """One scene from (size, colour, shape) names and (x, y) centres."""
    codes = [(list(SIZES).index(s), list(COLOURS).index(c), SHAPES.index(h)) for s, c, h in objects]
    t = torch.tensor(codes).T  # (3, K)
    x, y = torch.tensor([p[0] for p in xy]), torch.tensor([p[1] for p in xy])
    rel = torch.tensor([relation if len(objects) > 1 else -1])
    return Scenes(t[2][None], t[1][None], t[0][None], x[None], y[None], rel)


def reference_true(scene_objs, desc):
    """Slow check: try every assignment of scene objects, relation from the angle between them."""
    sectors = {"right of": 0, "below": 90, "left of": 180, "above": 270}  # y points down
    for chosen in permutations(range(len(scene_objs)), len(desc.objects)):
        if any(scene_objs[j][0] != desc.objects[k] for k, j in enumerate(chosen)):
            continue
        if desc.relation is None:
            return True
        (_, x0, y0), (_, x1, y1) = scene_objs[chosen[0]], scene_objs[chosen[1]]
        angle = math.degrees(math.atan2(y0 - y1, x0 - x1)) % 360
        if min(abs(angle - sectors[desc.relation]), 360 - abs(angle - sectors[desc.relation])) < 45:
            return True
    return False


@pytest.fixture(scope="module")
def scenes():
    return sample_scenes(300, seed=5)


def test_every_scene_makes_its_own_paraphrases_true(scenes):
    for i in range(len(scenes)):
        desc = G.describe(scenes, i)
        texts = G.paraphrases(desc)
        assert len(set(texts)) == len(G.PAIR_TEMPLATES)
        for text in texts:
            parsed = G.parse(text)
            assert parsed.canonical() == desc.canonical()
            assert G.holds(scenes, i, parsed)
            assert reference_true(G.scene_objects(scenes, i), parsed)


def test_canonical_caption_is_the_plain_one(scenes):
    desc = G.describe(scenes, 0)
    (s0, c0, h0), (s1, c1, h1) = desc.objects
    assert G.render_text(desc) == f"a {s0} {c0} {h0} {desc.relation} a {s1} {c1} {h1}"


@pytest.mark.parametrize("kind", G.NEGATIVE_KINDS)
def test_hard_negatives_are_false_by_an_independent_check(scenes, kind):
    negatives = [G.hard_negative(scenes, i, kind, template=i % 5) for i in range(len(scenes))]
    assert sum(n is None for n in negatives) < len(scenes) * 0.05  # almost always possible
    for i, text in enumerate(negatives):
        if text is None:
            continue
        assert text not in G.paraphrases(G.describe(scenes, i))
        parsed = G.parse(text)
        if kind == "shuffle":
            assert Counter(text.split()) == Counter(
                G.render_text(G.describe(scenes, i), i % 5).split()
            )
        else:
            assert parsed is not None, text  # edits keep the grammar
        if parsed is not None:
            assert not reference_true(G.scene_objects(scenes, i), parsed), (i, text)


def test_negative_kinds_change_what_they_say(scenes):
    for i in range(50):
        pos = G.render_text(G.describe(scenes, i))
        swap = G.hard_negative(scenes, i, "attribute_swap")
        edit = G.hard_negative(scenes, i, "attribute_edit")
        rep = G.hard_negative(scenes, i, "object_replace")
        if swap is not None:
            assert Counter(swap.split()) == Counter(pos.split())  # same words, other binding
        assert sum(a != b for a, b in zip(edit.split(), pos.split(), strict=True)) == 1
        shapes_pos = [w for w in pos.split() if w in SHAPES]
        assert [w for w in rep.split() if w in SHAPES] != shapes_pos


def test_same_coloured_objects_get_no_colour_swap():
    scene = make_scene(
        [("small", "red", "circle"), ("small", "red", "square")], [(0.2, 0.5), (0.8, 0.5)]
    )
    for seed in range(10):
        neg = G.hard_negative(scene, 0, "attribute_swap", rng=np.random.default_rng(seed))
        assert neg == "a small red square left of a small red circle"  # only the shapes differ


def test_identical_objects_have_no_swap_negatives():
    twin = ("large", "blue", "diamond")
    scene = make_scene([twin, twin], [(0.5, 0.2), (0.5, 0.8)], relation=2)  # above
    assert G.hard_negative(scene, 0, "attribute_swap") is None
    assert G.hard_negative(scene, 0, "relation_swap") is None  # "below" is also true of twins
    assert G.holds(scene, 0, G.Description((twin, twin), "below"))
    assert G.hard_negative(scene, 0, "attribute_edit") is not None


def test_third_object_can_make_a_swap_true():
    red_c, blue_s = ("small", "red", "circle"), ("large", "blue", "square")
    scene = make_scene([red_c, blue_s, red_c], [(0.15, 0.5), (0.5, 0.5), (0.85, 0.5)])
    exchanged = G.Description((blue_s, red_c), "left of")  # true thanks to the third object
    assert G.holds(scene, 0, exchanged)
    # both relation swaps (exchange, converse) are true here, so there is no relation negative
    assert G.holds(scene, 0, G.Description((red_c, blue_s), "right of"))
    assert G.hard_negative(scene, 0, "relation_swap", tries=50) is None


def test_parse_refuses_text_outside_the_grammar():
    assert G.parse("a small red circle next to a large blue square") is None
    assert G.parse("a huge red circle") is None
    assert G.parse("A Small Red Circle") == G.Description((("small", "red", "circle"),))
    with pytest.raises(ValueError, match="kind must be one of"):
        G.hard_negative(sample_scenes(1), 0, "negation")


@pytest.mark.parametrize("n_objects", [1, 3])
def test_one_and_three_object_scenes(n_objects):
    scenes = sample_scenes(150, seed=9, n_objects=n_objects)
    for i, desc in enumerate(G.describe_all(scenes)):
        assert desc == G.describe(scenes, i)
        for text in G.paraphrases(desc):
            assert reference_true(G.scene_objects(scenes, i), G.parse(text))
        for kind in G.NEGATIVE_KINDS:
            neg = G.hard_negative(scenes, i, kind, template=i)
            if neg is not None and G.parse(neg) is not None:
                assert not reference_true(G.scene_objects(scenes, i), G.parse(neg)), neg
    if n_objects == 3:
        assert all(", and a " in t for t in xm_captions(scenes))


def xm_captions(scenes):
    from xmlab.data.shapes import captions

    return captions(scenes)


def test_dataset_hard_negatives_follow_the_caption_paraphrase():
    from xmlab.data.shapes import make_shapes

    ds = make_shapes(40, seed=1, paraphrase=True)
    negatives = ds.hard_negatives(seed=0)
    assert len(negatives) == 40 and set(negatives[0]) == set(G.NEGATIVE_KINDS)
    for i, neg in enumerate(negatives):
        edit = neg["attribute_edit"]
        assert len(edit.split()) == len(ds.captions[i].split())  # same paraphrase, one word changed
        assert sum(a != b for a, b in zip(edit.split(), ds.captions[i].split(), strict=True)) == 1


@pytest.mark.parametrize(("combos", "kinds"), [("seen", 50), ("any", 60)])
def test_possible_captions_are_counted_from_the_grammar(combos, kinds):
    captions = G.possible_captions(combos)
    assert len(G.object_kinds(combos)) == kinds
    # an unordered pair of different kinds in 4 relations, or twins in "left of" / "above"
    assert len(captions) == kinds * (kinds - 1) // 2 * 4 + kinds * 2
    assert all(G.parse(c) is not None for c in captions)


def test_every_caption_of_the_splits_is_a_possible_caption():
    possible = set(G.possible_captions("seen"))
    for split in ("train", "test"):
        assert set(make_shapes(2000, split=split, seed=1).captions) <= possible
    assert not set(make_shapes(50, split="heldout").captions) & possible
