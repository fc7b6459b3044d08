"""What the widgets of the evaluation lesson compute and draw: temperature and the losses.

A contrastive model scores one image against a row of captions by cosine similarity ``s_j``.
*CLIP* turns the row into probabilities with a softmax at temperature ``tau`` and pays
``-log p_positive``; *SigLIP* asks an independent yes/no question per caption,
``sigmoid(s_j / tau + b)``, and pays the binary cross-entropy of every answer. Their gradients
with respect to ``s_j`` show which captions each loss pushes, and how hard:

    CLIP:   dL/ds_j = (p_j - [j is positive]) / tau
    SigLIP: dL/ds_j = (sigmoid(s_j / tau + b) - [j is positive]) / tau

Explained in: notebooks/03_joint_learning.ipynb and notebooks/05_evaluation.ipynb
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F


def _row(similarities) -> torch.Tensor:
    s = torch.as_tensor(similarities).detach().cpu().to(torch.float64).flatten()  # (G,)
    if s.numel() < 2 or not torch.isfinite(s).all():
        raise ValueError(f"expected at least two finite similarities, got {s.tolist()}")
    return s


def softmax_with_temperature(similarities, temperature: float) -> torch.Tensor:
    """``softmax(s / tau)``: low ``tau`` puts all the mass on the best item, high ``tau``
    spreads it evenly."""
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    return torch.softmax(_row(similarities) / temperature, dim=0)


def row_losses(
    similarities, *, positive: int = 0, temperature: float = 0.1, bias: float = -10.0
) -> dict:
    """CLIP's and SigLIP's loss for one query row and their gradients w.r.t. each similarity.

    Returns:
        ``{"clip": float, "siglip": float, "clip_grad": (G,), "siglip_grad": (G,)}``;
        the SigLIP loss is the sum over the row (the paper divides the batch sum by B).
    """
    s = _row(similarities).clone().requires_grad_(True)
    if not 0 <= positive < len(s) or temperature <= 0:
        raise ValueError(f"need 0 <= positive < {len(s)} and temperature > 0")
    target = torch.zeros_like(s)
    target[positive] = 1.0
    clip = F.cross_entropy((s / temperature)[None], torch.tensor([positive]))
    sign = 2 * target - 1  # +1 for the positive, -1 for the negatives
    siglip = -F.logsigmoid(sign * (s / temperature + bias)).sum()
    (clip_grad,) = torch.autograd.grad(clip, s)
    (siglip_grad,) = torch.autograd.grad(siglip, s)
    return {
        "clip": clip.item(),
        "siglip": siglip.item(),
        "clip_grad": clip_grad.float(),
        "siglip_grad": siglip_grad.float(),
    }


def plot_softmax(similarities, temperature: float, ax=None, *, labels: Sequence[str] | None = None):
    """Bars of ``softmax(s / tau)`` over a row of similarities; returns the figure."""
    p = softmax_with_temperature(similarities, temperature)
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 2.6))
    names = labels or [f"item {j}" for j in range(len(p))]
    ax.bar(range(len(p)), p.numpy(), color=["C2"] + ["C0"] * (len(p) - 1))
    ax.set_xticks(range(len(p)), names, rotation=30, ha="right", fontsize=7)
    entropy = -(p * p.clamp(min=1e-12).log()).sum().item()
    ax.set(ylim=(0, 1), ylabel="probability")
    ax.set_title(f"temperature {temperature:.3g}: entropy {entropy:.2f} nats", fontsize=9)
    return ax.figure


def plot_loss_lab(similarities, *, temperature: float, bias: float, positive: int = 0):
    """Gradients of both losses per caption (positive in green) with the two loss values."""
    out = row_losses(similarities, positive=positive, temperature=temperature, bias=bias)
    fig, axes = plt.subplots(1, 2, figsize=(8, 2.6), sharey=True)
    for ax, name in zip(axes, ("clip", "siglip")):
        grad = out[f"{name}_grad"]
        colours = ["C2" if j == positive else "C3" for j in range(len(grad))]
        ax.bar(range(len(grad)), grad.numpy(), color=colours)
        ax.axhline(0, color="k", lw=0.8)
        ax.set_xticks(
            range(len(grad)),
            ["pos" if j == positive else f"neg {j}" for j in range(len(grad))],
            fontsize=7,
        )
        ax.set_title(f"{name.upper()} loss {out[name]:.3f}", fontsize=9)
    axes[0].set_ylabel("dL / d similarity")
    return fig
