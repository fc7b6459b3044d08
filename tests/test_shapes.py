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


def _combos(scenes):
    colours, shapes = list(S.COLOURS), S.SHAPES
    return {
        (colours[c], shapes[s])
        for c, s in zip(scenes.colour.flatten().tolist(), scenes.shape.flatten().tolist())
    }


@pytest.mark.parametrize("n_objects", [1, 2, 3])
def test_heldout_combinations_never_seen_in_training(n_objects):
    held = set(S.HELDOUT_COMBOS)
    for split in ("train", "val", "test"):
        ds = xm.data.make_shapes(2000, split=split, n_objects=n_objects)
        assert not _combos(ds.scenes) & held
        assert len(_combos(ds.scenes)) == 30 - len(held)  # every other pair still occurs
    heldout = xm.data.make_shapes(500, split="heldout", n_objects=n_objects).scenes
    per_scene = [
        _combos(S.Scenes(*(t[i : i + 1] for t in vars(heldout).values()))) & held
        for i in range(len(heldout))
    ]
    assert all(per_scene)  # every scene shows a pair never seen in training
    assert set().union(*per_scene) == held


def test_three_objects_stay_apart_and_inside():
    sc = S.sample_scenes(3000, seed=3, n_objects=3)
    r = torch.tensor(list(S.SIZES.values()))[sc.size]  # (N, 3)
    assert ((sc.x - r) >= 0).all() and ((sc.x + r) <= 1).all()
    assert ((sc.y - r) >= 0).all() and ((sc.y + r) <= 1).all()
    for a, b in ((0, 1), (0, 2), (1, 2)):
        dist = ((sc.x[:, a] - sc.x[:, b]) ** 2 + (sc.y[:, a] - sc.y[:, b]) ** 2).sqrt()
        assert (dist > r[:, a] + r[:, b]).float().mean() > 0.999  # overlaps (almost) never


def test_vectorised_owners_match_a_pixel_loop():
    sc = S.sample_scenes(6, seed=7, n_objects=3)
    size = 24
    owners = S._owners(sc, size)
    radii = list(S.SIZES.values())
    for i in range(6):
        for row in range(size):
            for col in range(size):
                expected = 0
                for k in range(3):
                    r = radii[sc.size[i, k]]
                    dx = torch.tensor(((col + 0.5) / size - float(sc.x[i, k])) / r)
                    dy = torch.tensor(((row + 0.5) / size - float(sc.y[i, k])) / r)
                    if S._shape_mask(int(sc.shape[i, k]), dx, dy):
                        expected = k + 1  # later objects paint over earlier ones
                assert owners[i, row, col] == expected


def test_clean_render_shows_palette_colours_at_64px():
    ds = xm.data.make_shapes(20, image_size=64, noise=0.0, n_objects=3)
    assert ds.images.shape == (20, 3, 64, 64)
    owners = S._owners(ds.scenes, 64)
    background = ds.images.permute(0, 2, 3, 1)[owners == 0].float() / 255
    assert torch.allclose(background, torch.full_like(background, 0.12), atol=0.5 / 255)


def test_paraphrased_captions_vary_but_describe_the_scene():
    from xmlab.data import grammar

    ds = xm.data.make_shapes(200, seed=2, paraphrase=True)
    assert len(set(ds.templates)) == 5
    for i, text in enumerate(ds.captions):
        assert grammar.holds(ds.scenes, i, grammar.parse(text))
    plain = xm.data.make_shapes(200, seed=2)
    assert plain.captions != ds.captions and torch.equal(plain.images, ds.images)


@pytest.mark.parametrize("n_objects, noise", [(2, 0.02), (3, 0.0)])
def test_rendering_in_blocks_gives_the_pixels_of_one_pass(monkeypatch, n_objects, noise):
    scenes = S.sample_scenes(300, seed=4, n_objects=n_objects)
    monkeypatch.setattr(S, "RENDER_BLOCK_PIXELS", 10**9)  # every scene in one block
    whole = S.render(scenes, image_size=24, seed=2, noise=noise)
    monkeypatch.setattr(S, "RENDER_BLOCK_PIXELS", 7 * 3 * 24 * 24)  # blocks of 7, last one short
    assert torch.equal(S.render(scenes, image_size=24, seed=2, noise=noise), whole)
    part = scenes[10:17]
    assert len(part) == 7 and part.n_objects == n_objects
    assert torch.equal(part.x, scenes.x[10:17])
    assert torch.equal(part.relation, scenes.relation[10:17])
