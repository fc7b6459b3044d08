"""NegCLIP: CLIP's loss with hard-negative captions, against a slow loop and against clip_loss."""

import pytest
import torch
import torch.nn.functional as F

import xmlab as xm


def unit(*shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(*shape, generator=g, dtype=torch.float64), dim=-1)


def reference_negclip_loss(img, txt, neg, scale):
    """A slow, obviously correct loop. Image i: -log softmax of its caption among every caption
    and every negative of the batch. Caption i: -log softmax of its image among the images."""
    n, k = neg.shape[:2]
    total = 0.0
    for i in range(n):
        row = [scale * (img[i] @ txt[j]) for j in range(n)]
        row += [scale * (img[i] @ neg[j, m]) for j in range(n) for m in range(k)]
        col = [scale * (txt[i] @ img[j]) for j in range(n)]
        total += -(row[i] - torch.logsumexp(torch.stack(row), 0))
        total += -(col[i] - torch.logsumexp(torch.stack(col), 0))
    return total / (2 * n)


@pytest.mark.parametrize("k", [1, 3])
def test_negclip_equals_reference_loop(k):
    img, txt, neg = unit(6, 5, seed=0), unit(6, 5, seed=1), unit(6, k, 5, seed=2)
    got = xm.losses.negclip_loss(img, txt, logit_scale=4.0, text_negatives=neg)
    torch.testing.assert_close(got, reference_negclip_loss(img, txt, neg, 4.0))


def test_without_negatives_it_is_clip_loss_exactly():
    img, txt = unit(8, 4, seed=3).float(), unit(8, 4, seed=4).float()
    none = torch.empty(8, 0, 4)
    positives = xm.losses.positives_from_labels(torch.tensor([0, 1, 0, 2, 3, 4, 5, 1]))
    for mask in (None, positives):
        clip = xm.losses.clip_loss(img, txt, logit_scale=7.0, positives=mask)
        neg = xm.losses.negclip_loss(img, txt, logit_scale=7.0, text_negatives=none, positives=mask)
        assert torch.equal(neg, clip)


def test_a_negative_raises_the_loss_more_the_closer_it_is_to_the_image():
    img, txt = unit(4, 6, seed=5), unit(4, 6, seed=6)
    clip = xm.losses.clip_loss(img, txt, logit_scale=5.0)
    far = xm.losses.negclip_loss(img, txt, logit_scale=5.0, text_negatives=-img[:, None])
    near = xm.losses.negclip_loss(img, txt, logit_scale=5.0, text_negatives=img[:, None])
    assert clip < far < near


def test_the_text_to_image_half_is_clips():
    img, txt, neg = unit(5, 3, seed=7), unit(5, 3, seed=8), unit(5, 2, 3, seed=9)
    got = xm.losses.negclip_loss(img, txt, logit_scale=3.0, text_negatives=neg)
    logits = 3.0 * torch.cat([img @ txt.T, img @ neg.flatten(0, 1).T], 1)  # (5, 5 + 10)
    image_to_text = F.cross_entropy(logits, torch.arange(5))
    text_to_image = F.cross_entropy(3.0 * txt @ img.T, torch.arange(5))
    torch.testing.assert_close(got, (image_to_text + text_to_image) / 2)


def test_positives_leave_the_image_softmax_but_negatives_stay():
    img, txt, neg = unit(4, 3, seed=10), unit(4, 3, seed=11), unit(4, 1, 3, seed=12)
    positives = xm.losses.positives_from_labels(torch.tensor([0, 0, 1, 2]))
    got = xm.losses.negclip_loss(img, txt, logit_scale=2.0, text_negatives=neg, positives=positives)
    logits = 2.0 * torch.cat([img @ txt.T, img @ neg[:, 0].T], 1)  # (4, 8)
    logits[0, 1] = logits[1, 0] = float("-inf")  # images 0 and 1 share a caption
    per_text = (2.0 * txt @ img.T).masked_fill(positives & ~torch.eye(4, dtype=bool), -torch.inf)
    expected = F.cross_entropy(logits, torch.arange(4)) + F.cross_entropy(per_text, torch.arange(4))
    torch.testing.assert_close(got, expected / 2)


def test_gradcheck():
    img, txt = unit(3, 4, seed=13).requires_grad_(), unit(3, 4, seed=14).requires_grad_()
    neg = unit(3, 2, 4, seed=15).requires_grad_()
    scale = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda a, b, c, s: xm.losses.negclip_loss(a, b, logit_scale=s, text_negatives=c),
        (img, txt, neg, scale),
    )


def test_each_negative_is_pushed_away_from_every_image_by_its_softmax_weight():
    img, txt = unit(4, 5, seed=16), unit(4, 5, seed=17)
    neg = unit(4, 2, 5, seed=18).requires_grad_()
    xm.losses.negclip_loss(img, txt, logit_scale=5.0, text_negatives=neg).backward()
    logits = 5.0 * torch.cat([img @ txt.T, img @ neg.detach().flatten(0, 1).T], 1)  # (4, 12)
    p = logits.softmax(1)[:, 4:]  # (4, 8) how much each image believes each negative
    expected = 5.0 / (2 * 4) * p.T @ img  # (8, 5): d loss / d negative
    torch.testing.assert_close(neg.grad.flatten(0, 1), expected)


@pytest.mark.parametrize(
    "negatives, message",
    [
        (torch.zeros(4, 3), r"shaped \(B, K, D\)"),
        (torch.zeros(3, 1, 3), r"expected \(4, K, 3\)"),
        (torch.zeros(4, 1, 5), r"expected \(4, K, 3\)"),
        (torch.full((4, 1, 3), float("nan")), "NaN"),
        ([[0.0]], r"shaped \(B, K, D\)"),
    ],
)
def test_bad_negatives_are_explained(negatives, message):
    img, txt = unit(4, 3, seed=19).float(), unit(4, 3, seed=20).float()
    with pytest.raises(ValueError, match=message):
        xm.losses.negclip_loss(img, txt, logit_scale=1.0, text_negatives=negatives)
