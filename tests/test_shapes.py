import pytest
import torch

import xmlab as xm
from xmlab.data import shapes as S


def test_same_seed_same_scenes_and_pixels():
    a = xm.data.make_shapes(64, seed=5)
    b = xm.data.make_shapes(64, seed=5)
    assert torch.equal(a.images, b.images) and a.captions == b.captions


def test_splits_differ():
    train = xm.data.make_shapes(64, split="train")
    test = xm.data.make_shapes(64, split="test")
    assert train.captions != test.captions


def test_unknown_split_is_explained():
    with pytest.raises(ValueError, match="unknown split 'dev'"):
        xm.data.make_shapes(4, split="dev")


def test_images_are_uint8_and_sized():
    ds = xm.data.make_shapes(8, image_size=48)
    assert ds.images.dtype == torch.uint8 and ds.images.shape == (8, 3, 48, 48)
    item = ds[0]
    assert (
        item["image"].dtype == torch.float32
        and 0 <= item["image"].min() <= item["image"].max() <= 1
    )
    assert isinstance(item["text"], str)


def _object_pixels(ds, i):
    """Pixels of scene i whose colour is close to each object's palette colour."""
    sc = ds.scenes
    img = ds.images[i].float() / 255  # (3, H, W)
    out = []
    for k in range(2):
        rgb = torch.tensor(list(S.COLOURS.values())[sc.colour[i, k]])
        out.append((img - rgb[:, None, None]).abs().max(0).values < 0.2)
    return out


def test_relations_hold_in_the_pixels():
    ds = xm.data.make_shapes(200, seed=1, noise=0.0, image_size=64)
    sc = ds.scenes
    checked = 0
    for i in range(len(ds)):
        if sc.colour[i, 0] == sc.colour[i, 1]:
            continue  # cannot tell the objects apart by colour
        m0, m1 = _object_pixels(ds, i)
        ys0, xs0 = m0.nonzero(as_tuple=True)
        ys1, xs1 = m1.nonzero(as_tuple=True)
        rel = S.RELATIONS[sc.relation[i]]
        if rel == "left of":
            assert xs0.float().mean() < xs1.float().mean()
        elif rel == "right of":
            assert xs0.float().mean() > xs1.float().mean()
        elif rel == "above":
            assert ys0.float().mean() < ys1.float().mean()
        else:
            assert ys0.float().mean() > ys1.float().mean()
        assert rel in ds.captions[i]
        checked += 1
    assert checked > 100


def test_objects_stay_inside_and_do_not_overlap():
    sc = S.sample_scenes(5000, seed=2)
    r = torch.tensor(list(S.SIZES.values()))[sc.size]
    assert ((sc.x - r) >= 0).all() and ((sc.x + r) <= 1).all()
    assert ((sc.y - r) >= 0).all() and ((sc.y + r) <= 1).all()
    dist = ((sc.x[:, 0] - sc.x[:, 1]) ** 2 + (sc.y[:, 0] - sc.y[:, 1]) ** 2).sqrt()
    assert (dist > r.sum(1)).all()


def test_every_attribute_value_occurs():
    sc = S.sample_scenes(3000, seed=0)
    assert set(sc.shape.unique().tolist()) == set(range(len(S.SHAPES)))
    assert set(sc.colour.unique().tolist()) == set(range(len(S.COLOURS)))
    assert set(sc.size.unique().tolist()) == set(range(len(S.SIZES)))
    assert set(sc.relation.unique().tolist()) == set(range(len(S.RELATIONS)))


def test_caption_order_is_canonical():
    """A scene has one caption: the swapped description with the converse relation never appears."""
    sc = S.sample_scenes(3000, seed=4)
    code = (sc.shape * len(S.COLOURS) + sc.colour) * len(S.SIZES) + sc.size
    assert (code[:, 0] <= code[:, 1]).all()
    twins = code[:, 0] == code[:, 1]
    assert (sc.relation[twins] % 2 == 0).all()


def test_caption_grammar():
    ds = xm.data.make_shapes(3, seed=0)
    for text, i in zip(ds.captions, range(3)):
        words = text.split()
        assert words[0] == "a" and words[1] in S.SIZES and words[2] in S.COLOURS
        assert words[3] in S.SHAPES
        assert S.describe_object(ds.scenes, i, 1) in text


def test_shape_renders_differ():
    """Each shape covers a different set of pixels for the same position and size."""
    masks = S._shape_masks(
        *torch.meshgrid(torch.linspace(-1.2, 1.2, 33), torch.linspace(-1.2, 1.2, 33), indexing="xy")
    )
    flat = masks.flatten(1).float()
    for a in range(len(S.SHAPES)):
        for b in range(a + 1, len(S.SHAPES)):
            assert (flat[a] != flat[b]).float().mean() > 0.05


def test_bad_sizes_are_explained():
    with pytest.raises(ValueError, match="at least 1 scene"):
        S.sample_scenes(0)
    with pytest.raises(ValueError, match="at least 16 pixels"):
        S.render(S.sample_scenes(2), image_size=8)
