"""Binding three modalities through one: align audio and text to images, never to each other.

ImageBind (Girdhar et al., 2023) learns one space for six modalities from image-paired data
only: images anchor the space, every other modality is aligned to images, and modalities that
were never paired -- audio and text -- end up aligned anyway, because both moved next to the
same images. That alignment is *emergent*.

Here, on the spoken digits (``xmlab.data.digits``):

1. text <-> image: a contrastive loss trains the image and text towers together;
2. audio <-> image: the image tower is frozen (its embeddings computed once) and only the audio
   tower learns to land next to the images of its digit;
3. audio <-> text: measured, never trained -- no loss ever compares an audio clip with a text.

Items of the same digit are positives of each other in every contrastive loss (a batch holds
several sevens), through ``xm.losses.positives_from_labels``.

Explained in: notebooks/07_fusion_and_multitask.ipynb
"""

from __future__ import annotations

import itertools

import torch

from xmlab import checks, losses
from xmlab.data.av_digits import tri_modal_digits as binding_data
from xmlab.data.loaders import TensorLoader, move_to
from xmlab.encoders.digits import tri_modal_encoder
from xmlab.encoders.multi import MultiEncoder
from xmlab.metrics.retrieval import rank_metrics
from xmlab.train.history import History
from xmlab.train.recipes import fit_tensors
from xmlab.utils import evaluating, get_device

__all__ = ["align", "binding_data", "binding_metrics", "embed", "pair_loss", "tri_modal_encoder"]


def _check_modality(model: MultiEncoder, *names: str) -> None:
    for name in names:
        if name not in getattr(model, "modalities", ()):
            raise ValueError(
                f"the model has no {name!r} encoder (it encodes "
                f"{list(getattr(model, 'modalities', []))}): build it with that modality"
            )


def embed(model: MultiEncoder, data: dict, modality: str, *, batch_size: int = 512):
    """Unit-length embeddings ``(N, D)`` of one modality of ``data``, in eval mode, on the CPU."""
    _check_modality(model, modality)
    device = next(model.parameters()).device
    inputs = {k: data[k] for k in model.inputs[modality]}
    with evaluating(model):
        out = [
            model.encode(modality, *move_to(b, device).values()).cpu()
            for b in TensorLoader(inputs, batch_size=batch_size)
        ]
    return torch.cat(out)


def pair_loss(modality: str, anchor: str):
    """``loss_fn(model, batch)``: CLIP loss between two modalities, same labels as positives.

    When the batch carries ``"anchor_emb"`` (a frozen anchor's embeddings, computed once), the
    anchor tower is not run and receives no gradient.
    """

    def loss_fn(model: MultiEncoder, batch: dict) -> torch.Tensor:
        frozen = "anchor_emb" in batch
        out = model(batch, only=[modality] if frozen else [modality, anchor])
        target = batch["anchor_emb"] if frozen else out[f"{anchor}_emb"]  # (B, D)
        positives = losses.positives_from_labels(batch["label"])  # (B, B)
        return losses.clip_loss(
            out[f"{modality}_emb"], target, logit_scale=out["logit_scale"], positives=positives
        )

    return loss_fn


def align(
    model: MultiEncoder,
    data: dict[str, torch.Tensor],
    modality: str,
    anchor: str = "image",
    *,
    freeze_anchor: bool = False,
    epochs: int = 10,
    lr: float = 3e-3,
    batch_size: int = 128,
    seed: int = 0,
    device: str = "auto",
) -> History:
    """Train ``modality`` and ``anchor`` embeddings of ``data``'s pairs to agree (CLIP loss).

    ``freeze_anchor=True`` keeps the anchor tower as it is: its embeddings are computed once
    and only the other tower (and the temperature) learn.
    """
    _check_modality(model, modality, anchor)
    checks.batch_keys(
        data, ["label"], "aligning", fix="labels mark the positives: pass data['label']"
    )
    keys = {*model.inputs[modality], "label"}
    if not freeze_anchor:
        keys |= set(model.inputs[anchor])
    tensors = {k: data[k] for k in keys}
    if freeze_anchor:
        model.to(get_device(device))
        tensors["anchor_emb"] = embed(model, data, anchor)  # (N, D), constant from now on
    return fit_tensors(
        model,
        tensors,
        pair_loss(modality, anchor),
        epochs=epochs,
        lr=lr,
        batch_size=batch_size,
        seed=seed,
        device=device,
    )


def binding_metrics(model: MultiEncoder, data: dict[str, torch.Tensor]) -> dict[str, float]:
    """Label-level top-1 retrieval between every two modalities of the model on ``data``.

    ``"{a}_to_{b}_R@1"`` is the fraction of ``a`` queries whose most similar ``b`` item shows
    the same digit (a top-1 label accuracy), for every ordered pair of modalities.
    """
    emb = {m: embed(model, data, m) for m in model.modalities}
    labels = data["label"]
    out = {}
    for a, b in itertools.permutations(model.modalities, 2):
        out.update(
            rank_metrics(
                emb[a],
                emb[b],
                ks=(1,),
                query_labels=labels,
                gallery_labels=labels,
                prefix=f"{a}_to_{b}_",
            )
        )
    return {k: v for k, v in out.items() if k.endswith("R@1")}
