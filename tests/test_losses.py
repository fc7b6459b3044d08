import math

import pytest
import torch
import torch.nn.functional as F

import xmlab as xm


def reference_clip_loss(img, txt, scale):
    """A slow, obviously correct loop: -log softmax of the matching pair, both directions."""
    n = img.shape[0]
    total = 0.0
    for i in range(n):
        row = [scale * (img[i] @ txt[j]) for j in range(n)]
        col = [scale * (txt[i] @ img[j]) for j in range(n)]
        total += -(row[i] - torch.logsumexp(torch.stack(row), 0))
        total += -(col[i] - torch.logsumexp(torch.stack(col), 0))
    return total / (2 * n)


def unit(n, d, seed=0):
    g = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(n, d, generator=g, dtype=torch.float64), dim=1)


def test_clip_loss_equals_reference_loop():
    img, txt = unit(7, 5, 0), unit(7, 5, 1)
    got = xm.losses.clip_loss(img, txt, logit_scale=3.0)
    torch.testing.assert_close(got, reference_clip_loss(img, txt, 3.0))


def test_perfect_alignment_gives_near_zero_loss():
    emb = torch.eye(16, dtype=torch.float64)
    assert xm.losses.clip_loss(emb, emb, logit_scale=100.0).item() < 1e-6


def test_random_embeddings_give_about_log_n():
    img, txt = unit(512, 256, 0), unit(512, 256, 1)
    loss = xm.losses.clip_loss(img, txt, logit_scale=1.0).item()
    assert abs(loss - math.log(512)) < 0.05


def test_symmetric_in_the_two_modalities():
    img, txt = unit(9, 4, 2), unit(9, 4, 3)
    torch.testing.assert_close(
        xm.losses.clip_loss(img, txt, logit_scale=5.0),
        xm.losses.clip_loss(txt, img, logit_scale=5.0),
    )


def test_invariant_to_permuting_pairs():
    img, txt = unit(9, 4, 4), unit(9, 4, 5)
    perm = torch.randperm(9)
    torch.testing.assert_close(
        xm.losses.clip_loss(img, txt, logit_scale=5.0),
        xm.losses.clip_loss(img[perm], txt[perm], logit_scale=5.0),
    )


def test_gradcheck():
    img = unit(4, 3, 6).requires_grad_()
    txt = unit(4, 3, 7).requires_grad_()
    scale = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda a, b, s: xm.losses.clip_loss(a, b, logit_scale=s), (img, txt, scale)
    )


def test_module_wrapper_matches_function():
    img, txt = unit(5, 3, 8), unit(5, 3, 9)
    torch.testing.assert_close(
        xm.losses.ClipLoss()(img, txt, 4.0), xm.losses.clip_loss(img, txt, logit_scale=4.0)
    )


def test_logits_are_scaled_cosines():
    img, txt = unit(3, 4, 10), unit(3, 4, 11)
    per_image, per_text = xm.losses.clip_logits(img, txt, logit_scale=2.0)
    torch.testing.assert_close(per_image[1, 2], 2.0 * img[1] @ txt[2])
    torch.testing.assert_close(per_text, per_image.T)


def test_bad_inputs_are_explained():
    a = torch.zeros(4, 8)
    with pytest.raises(ValueError, match="4 items but text batch has 3"):
        xm.losses.clip_loss(a, torch.zeros(3, 8), logit_scale=1.0)
    with pytest.raises(ValueError, match="8 dimensions but text embeddings have 6"):
        xm.losses.clip_loss(a, torch.zeros(4, 6), logit_scale=1.0)
    with pytest.raises(ValueError, match=r"shaped \(N, D\)"):
        xm.losses.clip_loss(torch.zeros(4), a, logit_scale=1.0)
    with pytest.raises(ValueError, match="scalar"):
        xm.losses.clip_loss(a, a, logit_scale=torch.ones(2))
    with pytest.raises(ValueError, match="NaN"):
        xm.losses.clip_loss(a, torch.full((4, 8), float("nan")), logit_scale=1.0)


# --- positives mask ------------------------------------------------------------------------


def reference_masked_clip_loss(img, txt, scale, labels):
    """Loop: each row's softmax runs over its own pair and the pairs of *other* labels."""
    n, total = img.shape[0], 0.0
    for a, b in ((img, txt), (txt, img)):
        for i in range(n):
            keep = [j for j in range(n) if j == i or labels[j] != labels[i]]
            row = torch.stack([scale * (a[i] @ b[j]) for j in keep])
            total += -(scale * (a[i] @ b[i]) - torch.logsumexp(row, 0))
    return total / (2 * n)


def test_positives_mask_equals_reference_loop():
    img, txt = unit(8, 5, 20), unit(8, 5, 21)
    labels = torch.tensor([0, 1, 0, 2, 1, 0, 3, 2])
    got = xm.losses.clip_loss(
        img, txt, logit_scale=4.0, positives=xm.losses.positives_from_labels(labels)
    )
    torch.testing.assert_close(got, reference_masked_clip_loss(img, txt, 4.0, labels.tolist()))


def test_positives_mask_stops_pushing_same_label_pairs_apart():
    # two pairs of one class share one embedding: without the mask they compete, with it not
    emb = torch.eye(4, dtype=torch.float64)[[0, 0, 1, 2]]
    labels = torch.tensor([0, 0, 1, 2])
    plain = xm.losses.clip_loss(emb, emb, logit_scale=100.0)
    masked = xm.losses.clip_loss(
        emb, emb, logit_scale=100.0, positives=xm.losses.positives_from_labels(labels)
    )
    assert plain.item() > 0.3 and masked.item() < 1e-6


def test_all_distinct_labels_change_nothing():
    img, txt = unit(6, 3, 22), unit(6, 3, 23)
    positives = xm.losses.positives_from_labels(torch.arange(6))
    for loss in (xm.losses.clip_loss, xm.losses.siglip_loss):
        kwargs = {"logit_scale": 3.0}
        if loss is xm.losses.siglip_loss:
            kwargs["logit_bias"] = -1.0
        torch.testing.assert_close(
            loss(img, txt, **kwargs), loss(img, txt, positives=positives, **kwargs)
        )


def test_bad_positives_are_explained():
    a = unit(4, 3, 24)
    with pytest.raises(ValueError, match=r"a \(4, 4\) mask"):
        xm.losses.clip_loss(a, a, logit_scale=1.0, positives=torch.ones(3, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match="diagonal"):
        xm.losses.clip_loss(a, a, logit_scale=1.0, positives=torch.zeros(4, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"shaped \(B,\)"):
        xm.losses.positives_from_labels(torch.zeros(2, 2))


# --- SigLIP --------------------------------------------------------------------------------


def reference_siglip_loss(img, txt, scale, bias, positives):
    n, total = img.shape[0], 0.0
    for i in range(n):
        for j in range(n):
            z = scale * (img[i] @ txt[j]) + bias
            p = torch.sigmoid(z)
            total += -torch.log(p) if positives[i][j] else -torch.log(1 - p)
    return total / n


def test_siglip_equals_reference_loop():
    img, txt = unit(6, 4, 30), unit(6, 4, 31)
    eye = torch.eye(6, dtype=torch.bool)
    got = xm.losses.siglip_loss(img, txt, logit_scale=10.0, logit_bias=-3.0)
    torch.testing.assert_close(got, reference_siglip_loss(img, txt, 10.0, -3.0, eye))
    labels = torch.tensor([0, 1, 0, 1, 2, 2])
    pos = xm.losses.positives_from_labels(labels)
    got = xm.losses.siglip_loss(img, txt, logit_scale=10.0, logit_bias=-3.0, positives=pos)
    torch.testing.assert_close(got, reference_siglip_loss(img, txt, 10.0, -3.0, pos))


def test_siglip_properties():
    emb = torch.eye(8, dtype=torch.float64)
    assert xm.losses.siglip_loss(emb, emb, logit_scale=100.0, logit_bias=-50.0).item() < 1e-6
    img, txt = unit(9, 4, 32), unit(9, 4, 33)
    perm = torch.randperm(9)
    kw = {"logit_scale": 10.0, "logit_bias": -10.0}
    torch.testing.assert_close(
        xm.losses.siglip_loss(img, txt, **kw), xm.losses.siglip_loss(txt, img, **kw)
    )
    torch.testing.assert_close(
        xm.losses.siglip_loss(img, txt, **kw), xm.losses.siglip_loss(img[perm], txt[perm], **kw)
    )


def test_siglip_module_starts_at_scale_10_bias_minus_10_and_learns_them():
    module = xm.losses.SigLipLoss()
    assert math.isclose(module.logit_scale.exp().item(), 10.0, rel_tol=1e-6)
    assert module.logit_bias.item() == -10.0
    img, txt = unit(5, 3, 34).float(), unit(5, 3, 35).float()
    module(img, txt).backward()
    assert module.logit_scale.grad is not None and module.logit_bias.grad is not None
    torch.testing.assert_close(
        module(img, txt),
        xm.losses.siglip_loss(img, txt, logit_scale=10.0, logit_bias=-10.0),
    )


def test_siglip_gradcheck():
    img = unit(4, 3, 36).requires_grad_()
    txt = unit(4, 3, 37).requires_grad_()
    scale = torch.tensor(3.0, dtype=torch.float64, requires_grad=True)
    bias = torch.tensor(-1.0, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda a, b, s, c: xm.losses.siglip_loss(a, b, logit_scale=s, logit_bias=c),
        (img, txt, scale, bias),
    )


def test_siglip_bias_must_be_scalar():
    a = unit(3, 2, 38)
    with pytest.raises(ValueError, match="logit_bias must be a scalar"):
        xm.losses.siglip_loss(a, a, logit_scale=1.0, logit_bias=torch.zeros(3))


# --- triplet / VSE++ -------------------------------------------------------------------------


def reference_triplet_loss(img, txt, margin, hardest):
    n, total = img.shape[0], 0.0
    for i in range(n):
        to_text = [max(0.0, margin + (img[i] @ txt[j] - img[i] @ txt[i]).item()) for j in range(n)]
        to_image = [max(0.0, margin + (txt[i] @ img[j] - txt[i] @ img[i]).item()) for j in range(n)]
        del to_text[i], to_image[i]
        total += (max(to_text) + max(to_image)) if hardest else (sum(to_text) + sum(to_image))
    return total / (2 * n)


@pytest.mark.parametrize("hardest", [True, False])
def test_triplet_equals_reference_loop(hardest):
    img, txt = unit(7, 4, 40), unit(7, 4, 41)
    got = xm.losses.triplet_loss(img, txt, margin=0.3, hardest=hardest)
    assert got.item() == pytest.approx(reference_triplet_loss(img, txt, 0.3, hardest), abs=1e-9)


def test_triplet_properties():
    emb = torch.eye(6, dtype=torch.float64)
    assert xm.losses.triplet_loss(emb, emb, margin=0.5).item() == 0.0  # cos 1 vs 0 beats 0.5
    assert xm.losses.triplet_loss(emb, emb, margin=1.5).item() == pytest.approx(0.5)
    img, txt = unit(9, 4, 42), unit(9, 4, 43)
    perm = torch.randperm(9)
    torch.testing.assert_close(xm.losses.triplet_loss(img, txt), xm.losses.triplet_loss(txt, img))
    torch.testing.assert_close(
        xm.losses.triplet_loss(img, txt), xm.losses.triplet_loss(img[perm], txt[perm])
    )
    assert (
        xm.losses.triplet_loss(img, txt).item()
        >= xm.losses.triplet_loss(img, txt, hardest=False).item() / 8
    )  # the hardest negative is at least the mean of the 8 negatives


def test_triplet_positives_are_not_negatives():
    emb = torch.eye(3, dtype=torch.float64)[[0, 0, 1]]
    pos = xm.losses.positives_from_labels(torch.tensor([0, 0, 1]))
    assert xm.losses.triplet_loss(emb, emb, margin=0.2).item() > 0
    assert xm.losses.triplet_loss(emb, emb, margin=0.2, positives=pos).item() == 0.0


def test_triplet_gradcheck_and_module():
    img = unit(4, 3, 44).requires_grad_()
    txt = unit(4, 3, 45).requires_grad_()
    assert torch.autograd.gradcheck(
        lambda a, b: xm.losses.triplet_loss(a, b, margin=0.5), (img, txt)
    )
    torch.testing.assert_close(
        xm.losses.TripletLoss(margin=0.5, hardest=False)(img, txt),
        xm.losses.triplet_loss(img, txt, margin=0.5, hardest=False),
    )
    with pytest.raises(ValueError, match="margin"):
        xm.losses.triplet_loss(img, txt, margin=-1.0)


# --- CCA -----------------------------------------------------------------------------------


def reference_canonical_correlations(a, b, eps):
    """Square roots of the eigenvalues of S_aa^-1 S_ab S_bb^-1 S_ba, by NumPy."""
    import numpy as np

    a, b = a.numpy(), b.numpy()
    a, b = a - a.mean(0), b - b.mean(0)
    n, d = a.shape
    saa = a.T @ a / (n - 1) + eps * np.eye(d)
    sbb = b.T @ b / (n - 1) + eps * np.eye(d)
    sab = a.T @ b / (n - 1)
    m = np.linalg.solve(saa, sab) @ np.linalg.solve(sbb, sab.T)
    return np.sort(np.sqrt(np.clip(np.linalg.eigvals(m).real, 0, None)))[::-1].copy()


def test_canonical_correlations_equal_reference():
    g = torch.Generator().manual_seed(50)
    a = torch.randn(40, 3, generator=g, dtype=torch.float64)
    b = a @ torch.randn(3, 3, generator=g, dtype=torch.float64) + torch.randn(
        40, 3, generator=g, dtype=torch.float64
    )
    got = xm.losses.canonical_correlations(a, b, eps=1e-3)
    torch.testing.assert_close(got, torch.from_numpy(reference_canonical_correlations(a, b, 1e-3)))


def test_cca_loss_properties():
    g = torch.Generator().manual_seed(51)
    a = torch.randn(500, 4, generator=g, dtype=torch.float64)
    mix = torch.randn(4, 4, generator=g, dtype=torch.float64)
    # invertible linear maps of each other: perfectly correlated
    assert xm.losses.cca_loss(a, a @ mix + 3.0, eps=1e-8).item() == pytest.approx(-1.0, abs=1e-5)
    # independent views: close to 0
    b = torch.randn(500, 4, generator=g, dtype=torch.float64)
    assert xm.losses.cca_loss(a, b).item() > -0.15
    # symmetric, and only the top k count
    torch.testing.assert_close(xm.losses.cca_loss(a, b), xm.losses.cca_loss(b, a))
    top = xm.losses.canonical_correlations(a, b)[0]
    torch.testing.assert_close(xm.losses.cca_loss(a, b, k=1), -top)
    torch.testing.assert_close(xm.losses.CCALoss(k=2)(a, b), xm.losses.cca_loss(a, b, k=2))


def test_cca_gradcheck():
    g = torch.Generator().manual_seed(52)
    a = torch.randn(12, 3, generator=g, dtype=torch.float64).requires_grad_()
    b = torch.randn(12, 3, generator=g, dtype=torch.float64).requires_grad_()
    assert torch.autograd.gradcheck(lambda x, y: xm.losses.cca_loss(x, y), (a, b))


def test_cca_bad_inputs_are_explained():
    a = torch.zeros(5, 3)
    with pytest.raises(ValueError, match="k must be between 1 and 3"):
        xm.losses.cca_loss(torch.randn(5, 3), torch.randn(5, 3), k=4)
    with pytest.raises(ValueError, match="at least 2 items"):
        xm.losses.cca_loss(torch.randn(1, 3), torch.randn(1, 3))
    with pytest.raises(ValueError, match="3 dimensions but second view embeddings have 2"):
        xm.losses.cca_loss(a, torch.zeros(5, 2))


# --- InfoNCE by hand -----------------------------------------------------------------------


def test_info_nce_random_is_about_log_n_and_clip_is_its_two_directions():
    img, txt = unit(256, 128, 60), unit(256, 128, 61)
    per_image, per_text = xm.losses.clip_logits(img, txt, logit_scale=1.0)
    one_way = xm.losses.info_nce(per_image)
    assert abs(one_way.item() - math.log(256)) < 0.1
    torch.testing.assert_close(
        xm.losses.clip_loss(img, txt, logit_scale=1.0),
        (one_way + xm.losses.info_nce(per_text)) / 2,
    )
