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
    with pytest.raises(ValueError, match=r"shaped \(B, D\)"):
        xm.losses.clip_loss(torch.zeros(4), a, logit_scale=1.0)
    with pytest.raises(ValueError, match="scalar"):
        xm.losses.clip_loss(a, a, logit_scale=torch.ones(2))
    with pytest.raises(ValueError, match="NaN"):
        xm.losses.clip_loss(a, torch.full((4, 8), float("nan")), logit_scale=1.0)
