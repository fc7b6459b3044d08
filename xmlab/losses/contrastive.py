"""Contrastive objectives: pure functions first, thin ``nn.Module`` wrappers after.

Every function takes embeddings (rows are items, row ``i`` of one modality pairs with row ``i``
of the other) and returns a scalar tensor. The batch's other rows are the *negatives*; when
several rows share a label (two images of the digit 7, two scenes with the same caption), pass
a ``positives`` mask so that they are not pushed apart: ``positives[i, j]`` is True when row
``i`` of one modality and row ``j`` of the other are a correct pair (see
:func:`positives_from_labels`).

Explained in: notebooks/00_welcome.ipynb and notebooks/03_joint_learning.ipynb
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from xmlab import checks
from xmlab.checks import pair as check_pair  # noqa: F401  (xm.losses.check_pair, as before)

SIGLIP_SCALE_INIT = math.log(10)  # SigLIP starts at logit_scale = ln 10 ...
SIGLIP_BIAS_INIT = -10.0  # ... and bias -10: every pair starts out as a confident "no"
SCALE_HINT = "the multiplier of the similarities, e.g. model.logit_scale.exp()"


def _finite(loss: torch.Tensor, where: str, image_emb, text_emb, **scalars) -> torch.Tensor:
    """``loss``, or an error naming the input that made it NaN (``checks.finite_result``)."""
    inputs = {"image embeddings": image_emb, "text embeddings": text_emb, **scalars}
    return checks.finite_result(loss, inputs, where)


def positives_from_labels(labels: torch.Tensor, others: torch.Tensor | None = None) -> torch.Tensor:
    """The positives mask of a batch: ``mask[i, j]`` is True when ``labels[i] == others[j]``.

    Without ``others`` the batch is compared with itself: a ``(B, B)`` mask whose diagonal is
    always True. Labels can be class ids, or caption ids from ``xm.metrics.group_ids``
    (identical captions share an id).

    Shapes:
        labels: (B,), others: (N,) or None -> (B, N) bool, N = B without ``others``.
    """
    device = labels.device if isinstance(labels, torch.Tensor) else None
    labels = checks.label_ids(labels, "labels").to(device)
    others = labels if others is None else checks.label_ids(others, "others").to(device)
    return labels[:, None] == others[None, :]  # (B, N)


def _targets(logits: torch.Tensor, offset: int) -> torch.Tensor:
    """The column of each row's own pair: ``offset + i`` for row ``i``."""
    b, n = logits.shape
    if not 0 <= offset <= n - b:
        raise ValueError(
            f"offset {offset} puts the {b} rows' own pairs outside the {n} columns: the own "
            "pairs must sit at columns offset .. offset + B - 1 (offset = rank x B when gathered)"
        )
    return torch.arange(offset, offset + b, device=logits.device)  # (B,)


def clip_logits(
    image_emb: torch.Tensor, text_emb: torch.Tensor, *, logit_scale: torch.Tensor | float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Scaled similarities of every image with every text, in both directions.

    ``logits_per_image[i, j] = logit_scale * <image_i, text_j>``; the text logits are its
    transpose. With unit-length embeddings the dot product is the cosine similarity.

    Shapes:
        image_emb: (B, D), text_emb: (B, D), logit_scale: scalar (the multiplier, e.g.
        ``model.logit_scale.exp()``) -> two (B, B) tensors.
    """
    checks.pair(image_emb, text_emb, check_finite=False)  # a NaN shows in the loss: see below
    scale = checks.scalar(logit_scale, "logit_scale", hint=SCALE_HINT, positive=True)
    logits_per_image = scale * image_emb @ text_emb.T  # (B, B)
    return logits_per_image, logits_per_image.T


def info_nce(
    logits: torch.Tensor, *, positives: torch.Tensor | None = None, offset: int = 0
) -> torch.Tensor:
    """One direction of InfoNCE: row ``i`` of ``logits`` must pick column ``offset + i``.

    The cross-entropy of a softmax over each row with each row's own pair as the target (the
    diagonal when ``offset`` is 0 and the logits are square). Other ``positives`` of a row are
    taken out of its softmax (their logit becomes -inf), so a second correct answer is neither a
    competitor nor pushed away. Rectangular logits score B queries against N >= B candidates,
    e.g. one rank's pairs against every rank's (``offset = rank * B``).

    Shapes:
        logits: (B, N), positives: (B, N) bool or None, offset: int -> scalar.
    """
    return _info_nce(logits, checks.positives(positives, logits.shape, offset), offset)


def _info_nce(logits: torch.Tensor, positives: torch.Tensor | None, offset: int = 0):
    """:func:`info_nce` with an already checked mask."""
    if logits.ndim != 2:
        raise ValueError(f"expected logits shaped (B, N), got {tuple(logits.shape)}: one row each")
    targets = _targets(logits, offset)  # (B,) row i <-> column offset + i
    if positives is not None:
        own = F.one_hot(targets, logits.shape[1]).bool()  # (B, N)
        logits = logits.masked_fill(positives & ~own, float("-inf"))
    return F.cross_entropy(logits, targets)


def clip_loss(
    image_emb: torch.Tensor,
    text_emb: torch.Tensor,
    *,
    logit_scale: torch.Tensor | float,
    positives: torch.Tensor | None = None,
) -> torch.Tensor:
    """The symmetric InfoNCE loss of CLIP.

    Each image must pick its own caption among the B captions of the batch (a B-way
    classification, cross-entropy with the diagonal as targets), and each caption its own image;
    the loss is the mean of the two cross-entropies. It is about ln B for random embeddings and
    falls towards 0 as matching pairs become much more similar than the others.

    Shapes:
        image_emb: (B, D), text_emb: (B, D), logit_scale: scalar, positives: (B, B) bool or
        None (see :func:`positives_from_labels`) -> scalar.

    Paper: Radford et al., "Learning Transferable Visual Models From Natural Language
    Supervision" (CLIP), 2021; van den Oord et al., "Representation Learning with Contrastive
    Predictive Coding" (InfoNCE), 2018.

    Explained in: notebooks/03_joint_learning.ipynb
    """
    logits_per_image, logits_per_text = clip_logits(image_emb, text_emb, logit_scale=logit_scale)
    checks.enough_pairs(len(image_emb), "clip_loss")
    positives = checks.positives(positives, logits_per_image.shape)  # once, for both directions
    mask_t = None if positives is None else positives.T
    loss = (_info_nce(logits_per_image, positives) + _info_nce(logits_per_text, mask_t)) / 2
    return _finite(loss, "clip_loss", image_emb, text_emb, logit_scale=logit_scale)


def siglip_loss(
    image_emb: torch.Tensor,
    text_emb: torch.Tensor,
    *,
    logit_scale: torch.Tensor | float,
    logit_bias: torch.Tensor | float,
    positives: torch.Tensor | None = None,
) -> torch.Tensor:
    """The sigmoid loss of SigLIP: an independent yes/no question for every (image, text) pair.

    With ``z_ij = logit_scale * <image_i, text_j> + logit_bias``, each pair pays the binary
    cross-entropy ``-log sigmoid(z_ij)`` when it is positive and ``-log sigmoid(-z_ij)`` when
    it is negative; the sum over all B x B pairs is divided by B, as in the paper. No softmax
    couples the row, so the loss needs no all-to-all normalisation across devices.

    Shapes:
        image_emb: (B, D), text_emb: (B, D), logit_scale, logit_bias: scalars, positives:
        (B, B) bool or None -> scalar.

    Paper: Zhai et al., "Sigmoid Loss for Language Image Pre-Training" (SigLIP), ICCV 2023.

    Explained in: notebooks/03_joint_learning.ipynb
    """
    logits, _ = clip_logits(image_emb, text_emb, logit_scale=logit_scale)  # (B, B)
    n = logits.shape[0]
    checks.enough_pairs(n, "siglip_loss", minimum=1)
    positives = checks.positives(positives, logits.shape)
    if positives is None:  # (B, B) +1 positive, -1 negative
        signs = torch.full_like(logits, -1.0, requires_grad=False).fill_diagonal_(1.0)
    else:
        signs = positives.to(logits.dtype) * 2 - 1
    z = logits + checks.scalar(logit_bias, "logit_bias")  # (B, B)
    loss = -F.logsigmoid(signs * z).sum() / n
    scalars = {"logit_scale": logit_scale, "logit_bias": logit_bias}
    return _finite(loss, "siglip_loss", image_emb, text_emb, **scalars)


def triplet_loss(
    image_emb: torch.Tensor,
    text_emb: torch.Tensor,
    *,
    margin: float = 0.2,
    hardest: bool = True,
    positives: torch.Tensor | None = None,
) -> torch.Tensor:
    """A hinge on similarities: the true pair must beat negatives by ``margin`` (VSE++).

    For image ``i`` and a negative caption ``j`` the cost is ``max(0, margin + s_ij - s_ii)``,
    and the same for each caption against negative images. With ``hardest=True`` only the
    hardest negative of each anchor counts (VSE++); with ``False`` all negatives are summed
    (VSE0). The loss is averaged over the 2B anchors.

    Shapes:
        image_emb: (B, D), text_emb: (B, D), positives: (B, B) bool or None -> scalar.

    Paper: Faghri et al., "VSE++: Improving Visual-Semantic Embeddings with Hard Negatives",
    BMVC 2018.

    Explained in: notebooks/03_joint_learning.ipynb
    """
    checks.pair(image_emb, text_emb, check_finite=False)
    checks.number(margin, "margin", at_least=0, fix="try 0.2")
    sim = image_emb @ text_emb.T  # (B, B)
    n = sim.shape[0]
    checks.enough_pairs(n, "triplet_loss")
    positives = checks.positives(positives, sim.shape)
    if positives is None:
        positives = torch.eye(n, dtype=torch.bool, device=sim.device)
    true = sim.diagonal()  # (B,)
    cost_text = (margin + sim - true[:, None]).clamp(min=0).masked_fill(positives, 0)  # (B, B)
    cost_image = (margin + sim - true[None, :]).clamp(min=0).masked_fill(positives, 0)
    if hardest:
        loss = (cost_text.amax(1).sum() + cost_image.amax(0).sum()) / (2 * n)
    else:
        loss = (cost_text.sum() + cost_image.sum()) / (2 * n)
    return _finite(loss, "triplet_loss", image_emb, text_emb)


def canonical_correlations(a: torch.Tensor, b: torch.Tensor, *, eps: float = 1e-3) -> torch.Tensor:
    """The canonical correlations of two views: how well linear maps of each can agree.

    Centre both views, whiten each with its (ridge-regularised) covariance, and take the
    singular values of the whitened cross-covariance ``T = S_aa^-1/2 S_ab S_bb^-1/2``: the
    first is the largest correlation any pair of linear projections can reach, the next the
    largest among projections uncorrelated with the first, and so on.

    Shapes:
        a: (N, D), b: (N, D) -> (D,) correlations in [0, 1], largest first.
    """
    checks.pair(a, b, names=("first view", "second view"))
    n = a.shape[0]
    if n < 2:
        raise ValueError(f"canonical correlations need at least 2 items, got {n}: pass more rows")
    a, b = a - a.mean(0), b - b.mean(0)  # (N, D)
    eye = torch.eye(a.shape[1], dtype=a.dtype, device=a.device)
    t = (
        _inv_sqrt(a.T @ a / (n - 1) + eps * eye)
        @ (a.T @ b / (n - 1))
        @ _inv_sqrt(b.T @ b / (n - 1) + eps * eye)
    )  # (D, D)
    return torch.linalg.svdvals(t)  # (D,)


def _inv_sqrt(cov: torch.Tensor) -> torch.Tensor:
    values, vectors = torch.linalg.eigh(cov)  # cov = V diag(values) V^T
    return vectors @ torch.diag(values.rsqrt()) @ vectors.T


def cca_loss(a: torch.Tensor, b: torch.Tensor, *, eps: float = 1e-3, k: int | None = None):
    """Deep CCA's objective: minus the mean of the top ``k`` canonical correlations.

    Unlike the contrastive losses it has no negatives: it asks that the two views be linearly
    predictable from each other, dimension by dimension, while the whitening stops them from
    collapsing onto one direction. -1 for views that are invertible linear maps of each other,
    near 0 for independent ones (when N is much larger than D).

    Shapes:
        a: (N, D), b: (N, D) -> scalar in [-1, 0]. Needs N > D for a meaningful value.

    Paper: Andrew et al., "Deep Canonical Correlation Analysis", ICML 2013.

    Explained in: notebooks/03_joint_learning.ipynb
    """
    corr = canonical_correlations(a, b, eps=eps)
    if k is not None and not 1 <= k <= len(corr):
        raise ValueError(f"k must be between 1 and {len(corr)}, got {k}: or None for all")
    return -corr[:k].mean()


class ClipLoss(nn.Module):
    """:func:`clip_loss` as a module, called on a model's output dict or on tensors."""

    def forward(
        self,
        image_emb: torch.Tensor,
        text_emb: torch.Tensor,
        logit_scale: torch.Tensor | float,
        positives: torch.Tensor | None = None,
    ) -> torch.Tensor:
        return clip_loss(image_emb, text_emb, logit_scale=logit_scale, positives=positives)


class SigLipLoss(nn.Module):
    """:func:`siglip_loss` with its own learnable scale and bias (init ln 10 and -10).

    Add it to the optimiser with the model (or register it on the model) so both are learned.
    """

    def __init__(
        self, *, scale_init: float = SIGLIP_SCALE_INIT, bias_init: float = SIGLIP_BIAS_INIT
    ):
        super().__init__()
        self.logit_scale = nn.Parameter(torch.tensor(float(scale_init)))
        self.logit_bias = nn.Parameter(torch.tensor(float(bias_init)))

    def forward(
        self, image_emb: torch.Tensor, text_emb: torch.Tensor, positives: torch.Tensor | None = None
    ) -> torch.Tensor:
        return siglip_loss(
            image_emb,
            text_emb,
            logit_scale=self.logit_scale.exp(),
            logit_bias=self.logit_bias,
            positives=positives,
        )


class TripletLoss(nn.Module):
    """:func:`triplet_loss` with its margin and hardest-negative choice fixed at construction."""

    def __init__(self, *, margin: float = 0.2, hardest: bool = True):
        super().__init__()
        self.margin, self.hardest = margin, hardest

    def forward(
        self, image_emb: torch.Tensor, text_emb: torch.Tensor, positives: torch.Tensor | None = None
    ) -> torch.Tensor:
        return triplet_loss(
            image_emb, text_emb, margin=self.margin, hardest=self.hardest, positives=positives
        )


class CCALoss(nn.Module):
    """:func:`cca_loss` with its ridge ``eps`` and number of correlations ``k`` fixed."""

    def __init__(self, *, eps: float = 1e-3, k: int | None = None):
        super().__init__()
        self.eps, self.k = eps, k

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return cca_loss(a, b, eps=self.eps, k=self.k)
