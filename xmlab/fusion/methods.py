"""Six ways to fuse modalities: each maps a dict of per-modality features to one output.

Every fusion module is built with ``dims``, the feature size of each modality it fuses
(``{"image": 64, "audio": 64}``), and ``out_dim``, the size of what it returns (the number of
classes for a classifier). ``forward(features)`` takes a dict with one tensor per modality,
``(B, D)`` vectors or ``(B, T, D)`` sequences of tokens (audio frames, image patches), and
returns ``(B, out_dim)``. Methods that fuse vectors average a sequence over its tokens first;
cross-attention reads the tokens themselves, and counts a vector as a sequence of one token.

From the least to the most interaction between modalities:

* **late** -- one classifier per modality; their predictions (log-probabilities) are averaged;
* **early** -- concatenate the features, then one MLP;
* **gated** -- per-modality hidden vectors mixed by learned gates that depend on the input;
* **tensor** -- the outer product of the features (with a 1 appended): every product of a
  feature of one modality with a feature of another (Zadeh et al., 2017);
* **low_rank** -- the same multiplicative interaction through rank-``r`` factors, with far fewer
  parameters (Liu et al., 2018);
* **cross_attention** -- the tokens of each modality attend to the tokens of the others.

Explained in: notebooks/07_fusion_and_multitask.ipynb
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from xmlab import checks


def check_features(features: dict, dims: dict[str, int], where: str) -> None:
    """Raise a clear error unless ``features`` holds every modality of ``dims`` at its size."""
    if not isinstance(features, dict):
        raise TypeError(
            f"{where} takes a dict of features, one per modality ({sorted(dims)}), "
            f"got {type(features).__name__}: pass {{modality: tensor, ...}}"
        )
    for name, dim in dims.items():
        if name not in features:
            raise ValueError(
                f"{where} fuses {sorted(dims)} but modality {name!r} is missing (the input has "
                f"{sorted(features)}): pass every modality the model was built with, or build "
                f"one without {name!r}"
            )
        x = features[name]
        if not isinstance(x, torch.Tensor) or x.ndim not in (2, 3) or x.shape[-1] != dim:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(
                f"{where} expects {name} features shaped (B, {dim}) or (B, T, {dim}), got {shape}:"
                f" pass the {name} encoder's output, or build the model with dims[{name!r}]"
            )
    checks.same_items({m: len(features[m]) for m in dims}, where)


def pool(x: torch.Tensor) -> torch.Tensor:
    """A vector per item: ``(B, D)`` stays, ``(B, T, D)`` is averaged over its ``T`` tokens."""
    return x if x.ndim == 2 else x.mean(1)  # (B, D)


def mlp(in_dim: int, hidden: int, out_dim: int) -> nn.Sequential:
    """Linear, ReLU, linear: the small classifier every method ends with."""
    return nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, out_dim))


class Fusion(nn.Module):
    """Base class: remembers the modalities and checks the input of ``forward``."""

    def __init__(self, dims: dict[str, int], out_dim: int):
        super().__init__()
        if not isinstance(dims, dict) or not dims:
            raise ValueError(
                f"a fusion module needs dims, a dict of modality -> feature size, got {dims!r}:"
                ' e.g. {"image": 64, "audio": 64}'
            )
        for name, dim in dims.items():
            checks.number(dim, f"dims[{name!r}]", integer=True, at_least=1, fix="a feature size")
        checks.number(out_dim, "out_dim", integer=True, at_least=1, fix="e.g. the class count")
        self.dims, self.out_dim = dict(dims), out_dim
        self.modalities = list(dims)

    def vectors(self, features: dict) -> list[torch.Tensor]:
        """The checked features as pooled ``(B, D_m)`` vectors, in the order of ``dims``."""
        check_features(features, self.dims, type(self).__name__)
        return [pool(features[m]) for m in self.modalities]


class EarlyFusion(Fusion):
    """Concatenate the modalities' features, then classify them with one MLP."""

    def __init__(self, dims: dict[str, int], out_dim: int, *, hidden: int = 128):
        super().__init__(dims, out_dim)
        self.net = mlp(sum(dims.values()), hidden, out_dim)

    def forward(self, features: dict) -> torch.Tensor:
        return self.net(torch.cat(self.vectors(features), dim=-1))  # (B, out_dim)


class LateFusion(Fusion):
    """One classifier per modality; the fused prediction averages their log-probabilities.

    Each modality decides alone; fusion only votes. The vote is the mean of the modalities'
    log-probabilities (a normalised geometric mean of their predictions, returned as logits):
    if the modalities are independent given the class, adding their log-probabilities is how
    Bayes' rule combines the evidence. (Averaging probabilities instead lets the best modality
    take over the training, and the other one learns little.)
    """

    def __init__(self, dims: dict[str, int], out_dim: int, *, hidden: int = 128):
        super().__init__(dims, out_dim)
        self.heads = nn.ModuleDict({m: mlp(d, hidden, out_dim) for m, d in dims.items()})

    def per_modality(self, features: dict) -> dict[str, torch.Tensor]:
        """Each modality's own logits ``(B, out_dim)``."""
        vectors = self.vectors(features)
        return {m: self.heads[m](v) for m, v in zip(self.modalities, vectors)}

    def forward(self, features: dict) -> torch.Tensor:
        logits = torch.stack(list(self.per_modality(features).values()))  # (M, B, C)
        return F.log_softmax(logits, dim=-1).mean(0)  # (B, C)


class GatedFusion(Fusion):
    """Gated multimodal unit: ``h = sum_m g_m * tanh(W_m x_m)``, gates from all inputs.

    The gates ``g`` (a softmax over modalities, one per hidden unit) are computed from the
    concatenated features, so the model can lean on the image when the audio is noisy and the
    other way round. Arevalo et al., "Gated Multimodal Units for Information Fusion", 2017.
    """

    def __init__(self, dims: dict[str, int], out_dim: int, *, hidden: int = 128):
        super().__init__(dims, out_dim)
        self.hidden = hidden
        self.proj = nn.ModuleDict({m: nn.Linear(d, hidden) for m, d in dims.items()})
        self.gate = nn.Linear(sum(dims.values()), hidden * len(dims))
        self.out = mlp(hidden, hidden, out_dim)

    def gates(self, features: dict) -> torch.Tensor:
        """The weight of each modality in each hidden unit: ``(B, M, hidden)``, sums to 1 over M."""
        return self._gates(self.vectors(features))

    def _gates(self, vectors: list[torch.Tensor]) -> torch.Tensor:
        x = torch.cat(vectors, dim=-1)  # (B, sum D)
        scores = self.gate(x).view(len(x), len(self.modalities), self.hidden)  # (B, M, H)
        return scores.softmax(dim=1)

    def forward(self, features: dict) -> torch.Tensor:
        vectors = self.vectors(features)
        h = torch.stack([torch.tanh(self.proj[m](v)) for m, v in zip(self.modalities, vectors)], 1)
        return self.out((self._gates(vectors) * h).sum(1))  # (B, M, H) -> (B, H) -> (B, out)


def _with_one(x: torch.Tensor) -> torch.Tensor:
    return torch.cat([x, x.new_ones(len(x), 1)], dim=-1)  # (B, D + 1)


class TensorFusion(Fusion):
    """Outer product of the features, each with a 1 appended, flattened, then an MLP.

    The appended 1 keeps each modality's own features (and their sum) inside the product, next
    to every pairwise product. The size grows as the product of the dims, so each modality is
    first projected to ``factor_dim`` features. Zadeh et al., "Tensor Fusion Network for
    Multimodal Sentiment Analysis", 2017.
    """

    def __init__(
        self, dims: dict[str, int], out_dim: int, *, factor_dim: int = 16, hidden: int = 128
    ):
        super().__init__(dims, out_dim)
        self.proj = nn.ModuleDict({m: nn.Linear(d, factor_dim) for m, d in dims.items()})
        self.net = mlp((factor_dim + 1) ** len(dims), hidden, out_dim)

    def forward(self, features: dict) -> torch.Tensor:
        vectors = self.vectors(features)
        z = [_with_one(self.proj[m](v)) for m, v in zip(self.modalities, vectors)]  # (B, F+1)
        product = z[0]
        for zm in z[1:]:
            product = (product[:, :, None] * zm[:, None, :]).flatten(1)  # (B, P * (F+1))
        return self.net(product)


class LowRankFusion(Fusion):
    """Tensor fusion without building the tensor: ``h = sum_r prod_m (W_m^r [x_m, 1])``.

    The weight of tensor fusion's first layer is approximated by a sum of ``rank`` products of
    one small factor per modality, so the parameters grow with the *sum* of the dims instead of
    their product. Liu et al., "Efficient Low-rank Multimodal Fusion with Modality-Specific
    Factors", 2018.
    """

    def __init__(self, dims: dict[str, int], out_dim: int, *, rank: int = 4, hidden: int = 128):
        super().__init__(dims, out_dim)
        checks.number(rank, "rank", integer=True, at_least=1, fix="e.g. rank=4")
        self.rank, self.hidden = rank, hidden
        self.factors = nn.ParameterDict(
            {
                m: nn.Parameter(torch.randn(d + 1, rank * hidden) / math.sqrt(d))
                for m, d in dims.items()
            }
        )
        self.out = nn.Sequential(nn.ReLU(), nn.Linear(hidden, out_dim))

    def forward(self, features: dict) -> torch.Tensor:
        vectors = self.vectors(features)
        fused = 1.0
        for m, v in zip(self.modalities, vectors):
            fused = fused * (_with_one(v) @ self.factors[m])  # (B, rank * hidden)
        h = fused.view(-1, self.rank, self.hidden).sum(1)  # (B, hidden)
        return self.out(h)


class CrossAttentionFusion(Fusion):
    """Each modality's tokens attend to the other modalities' tokens, then all are pooled.

    Tokens are projected to ``width`` and tagged with a learned modality embedding. For
    modality ``m``: ``x_m <- LayerNorm(x_m + Attention(query=x_m, keys=values=others))``, so an
    image can pick the audio frames that matter for it. The mean of each modality's attended
    tokens is concatenated and classified. (With one modality there are no others: it attends
    to itself.) Tsai et al., "Multimodal Transformer for Unaligned Multimodal Language
    Sequences", 2019.
    """

    def __init__(
        self,
        dims: dict[str, int],
        out_dim: int,
        *,
        width: int = 64,
        heads: int = 4,
        hidden: int = 128,
    ):
        super().__init__(dims, out_dim)
        self.proj = nn.ModuleDict({m: nn.Linear(d, width) for m, d in dims.items()})
        self.tag = nn.ParameterDict({m: nn.Parameter(0.02 * torch.randn(width)) for m in dims})
        self.attn = nn.ModuleDict(
            {m: nn.MultiheadAttention(width, heads, batch_first=True) for m in dims}
        )
        self.norm = nn.ModuleDict({m: nn.LayerNorm(width) for m in dims})
        self.net = mlp(width * len(dims), hidden, out_dim)

    def tokens(self, features: dict) -> dict[str, torch.Tensor]:
        """Each modality's projected, tagged tokens ``(B, T_m, width)``."""
        check_features(features, self.dims, type(self).__name__)
        seqs = {m: x if x.ndim == 3 else x[:, None] for m, x in features.items() if m in self.dims}
        return {m: self.proj[m](seqs[m]) + self.tag[m] for m in self.modalities}

    def forward(self, features: dict) -> torch.Tensor:
        tokens, pooled = self.tokens(features), []
        for m, x in tokens.items():
            others = [t for k, t in tokens.items() if k != m] or [x]
            context = torch.cat(others, dim=1)  # (B, T_others, W)
            attended, _ = self.attn[m](x, context, context, need_weights=False)
            pooled.append(self.norm[m](x + attended).mean(1))  # (B, W)
        return self.net(torch.cat(pooled, dim=-1))  # (B, out_dim)


FUSIONS: dict[str, type[Fusion]] = {
    "early": EarlyFusion,
    "late": LateFusion,
    "gated": GatedFusion,
    "tensor": TensorFusion,
    "low_rank": LowRankFusion,
    "cross_attention": CrossAttentionFusion,
}


def make_fusion(method: str, dims: dict[str, int], out_dim: int, **options) -> Fusion:
    """Build the fusion module called ``method`` (one of :data:`FUSIONS`)."""
    checks.one_of(method, list(FUSIONS), "fusion method")
    return FUSIONS[method](dims, out_dim, **options)
