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

from xmlab import losses
from xmlab.data.digits import Degradation, SpokenDigits
from xmlab.data.loaders import TensorLoader
from xmlab.encoders.audio import AudioEncoder
from xmlab.encoders.image import ImageEncoder
from xmlab.encoders.multi import MultiEncoder
from xmlab.encoders.text import TextEncoder
from xmlab.fusion.digits import DIGIT_MEL, av_digits
from xmlab.fusion.models import fit_tensors
from xmlab.history import History
from xmlab.metrics.retrieval import rank_metrics
from xmlab.preprocess.text import WordTokenizer
from xmlab.train import move_to
from xmlab.utils import get_device


def binding_data(
    split: str = "train",
    tokenizer: WordTokenizer | None = None,
    *,
    degradation: Degradation | None = None,
    seed: int = 0,
) -> tuple[dict[str, torch.Tensor], WordTokenizer]:
    """Tri-modal digit tensors of one split, and the tokenizer of their texts.

    Without a ``tokenizer``, one is built on this split's texts (build it on ``"train"`` and
    pass it to the other splits).

    Returns:
        ``({"image": (N, 1, 8, 8), "audio": (N, n_mels, frames), "input_ids": (N, L),
        "attention_mask": (N, L), "label": (N,)}, tokenizer)``.
    """
    dataset = SpokenDigits(split, seed=seed)
    tokenizer = tokenizer or WordTokenizer.build(dataset.texts, max_length=8)
    data = av_digits(split, degradation=degradation, dataset=dataset)
    return {**data, **tokenizer(dataset.texts)}, tokenizer


def tri_modal_encoder(vocab_size: int, *, dim: int = 64, embed_dim: int = 64) -> MultiEncoder:
    """Image, text and audio towers for the spoken digits, projected into one space."""
    encoders = {
        "image": ImageEncoder(dim, image_size=8, in_channels=1, channels=(32, 64)),
        "text": TextEncoder(vocab_size, dim, max_length=8),
        "audio": AudioEncoder(dim, n_mels=DIGIT_MEL.n_mels),
    }
    return MultiEncoder(encoders, {m: dim for m in encoders}, embed_dim=embed_dim)


def _check_modality(model: MultiEncoder, *names: str) -> None:
    for name in names:
        if name not in getattr(model, "modalities", ()):
            raise ValueError(
                f"the model has no {name!r} encoder (it encodes "
                f"{list(getattr(model, 'modalities', []))}): build it with that modality"
            )


@torch.no_grad()
def embed(model: MultiEncoder, data: dict, modality: str, *, batch_size: int = 512):
    """Unit-length embeddings ``(N, D)`` of one modality of ``data``, in eval mode, on the CPU."""
    _check_modality(model, modality)
    device, was_training = next(model.parameters()).device, model.training
    model.eval()
    inputs = {k: data[k] for k in model.inputs[modality]}
    out = [
        model.encode(modality, *move_to(b, device).values()).cpu()
        for b in TensorLoader(inputs, batch_size=batch_size)
    ]
    model.train(was_training)
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
    if "label" not in data:
        raise ValueError(f"aligning needs data['label'] for the positives, got {sorted(data)}")
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
