"""The objectives of joint learning, functions first (``xm.losses.clip_loss(...)``).

- ``contrastive.py``: CLIP's InfoNCE, SigLIP, triplet, CCA, and their ``nn.Module`` wrappers;
- ``negclip.py``: CLIP's loss with hard-negative captions (NegCLIP).

Explained in: notebooks/03_joint_learning.ipynb and notebooks/06_compositionality.ipynb
"""

from xmlab.losses import contrastive, negclip
from xmlab.losses.contrastive import (
    SIGLIP_BIAS_INIT,
    SIGLIP_SCALE_INIT,
    CCALoss,
    ClipLoss,
    SigLipLoss,
    TripletLoss,
    canonical_correlations,
    cca_loss,
    check_pair,
    clip_logits,
    clip_loss,
    info_nce,
    positives_from_labels,
    siglip_loss,
    triplet_loss,
)
from xmlab.losses.negclip import negclip_loss

__all__ = [
    "SIGLIP_BIAS_INIT",
    "SIGLIP_SCALE_INIT",
    "CCALoss",
    "ClipLoss",
    "SigLipLoss",
    "TripletLoss",
    "canonical_correlations",
    "cca_loss",
    "check_pair",
    "clip_logits",
    "clip_loss",
    "contrastive",
    "info_nce",
    "negclip",
    "negclip_loss",
    "positives_from_labels",
    "siglip_loss",
    "triplet_loss",
]
