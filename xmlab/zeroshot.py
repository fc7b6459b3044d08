"""Zero-shot on classes never trained: a text tower from scratch against a locked pretrained one.

Fashion-MNIST photos get captions made from their class names ("a photo of a sneaker."). An
image tower and a text tower learn one shared space contrastively on 7 classes; the other 3 are
*held out*: no photo and no caption of them is ever trained on. At test time the held-out class
names are written into the same templates, and each held-out photo is given the name whose
caption embedding is nearest -- zero-shot classification, as CLIP does it.

* A text tower **trained from scratch** only knows the words of the training captions: a
  held-out class name is a word it never saw (``<unk>`` to its tokenizer), so it cannot place it.
* A **locked pretrained** text tower (all-MiniLM-L6-v2, frozen; only the image tower and a
  projection learn) has read a billion sentences: it already puts "sneaker" near "sandal" and
  "ankle boot". This is LiT (Zhai et al., "LiT: Zero-Shot Transfer with Locked-image text
  Tuning", 2022) with the roles of the towers swapped: there the image tower is the locked one.

A locked tower's output for a fixed caption never changes, so it is computed once per caption
(:class:`LockedTower`) instead of once per batch.

Explained in: notebooks/08_real_data.ipynb
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from xmlab import checks, losses
from xmlab.data.download import load_fashion_mnist
from xmlab.encoders.dual import (
    LOGIT_SCALE_INIT,
    ProjectionHead,
    add_temperature,
    temperature_outputs,
)
from xmlab.encoders.image import ImageEncoder
from xmlab.metrics.classification import zero_shot_accuracy
from xmlab.preprocess.text import WordTokenizer
from xmlab.train import TrainConfig, fit
from xmlab.train.history import History
from xmlab.utils import evaluating

FASHION_NAMES = (  # Fashion-MNIST's classes as a caption says them
    "t-shirt", "trouser", "pullover", "dress", "coat",
    "sandal", "shirt", "sneaker", "bag", "ankle boot",
)  # fmt: skip
TEMPLATES = (
    "a photo of a {}.",
    "a {}.",
    "a picture of a {}.",
    "a black and white photo of a {}.",
    "a low resolution photo of a {}.",
)
PIXEL_MEAN, PIXEL_STD = 0.286, 0.353  # of Fashion-MNIST's training pixels in [0, 1]


@dataclass
class ZeroShotSplit:
    """Photos of the seen classes to train on, and of the held-out classes to test on."""

    train_images: torch.Tensor  # (N, 1, 28, 28) normalised, seen classes only
    train_labels: torch.Tensor  # (N,) class ids 0-9
    test_images: torch.Tensor  # (M, 1, 28, 28) the test photos of the held-out classes
    test_labels: torch.Tensor  # (M,) class ids 0-9
    seen: list[int]  # the 7 class ids trained on
    held_out: list[int]  # the 3 class ids never trained on


def _normalise(images: np.ndarray) -> torch.Tensor:
    pixels = torch.from_numpy(images).float()[:, None] / 255  # (N, 1, 28, 28)
    return (pixels - PIXEL_MEAN) / PIXEL_STD


def fashion_split(
    held_out: Sequence[str], *, per_class: int = 1000, seed: int = 0, root=None
) -> ZeroShotSplit:
    """``per_class`` training photos of each seen class, and every test photo of ``held_out``."""
    for name in held_out:
        checks.one_of(name, FASHION_NAMES, "Fashion-MNIST class")
    held = [FASHION_NAMES.index(name) for name in held_out]
    seen = [c for c in range(len(FASHION_NAMES)) if c not in held]
    train, test = load_fashion_mnist("train", root=root), load_fashion_mnist("test", root=root)
    rng = np.random.default_rng(seed)
    pick = np.concatenate(
        [rng.permutation(np.flatnonzero(train["labels"] == c))[:per_class] for c in seen]
    )
    in_test = np.isin(test["labels"], held)
    return ZeroShotSplit(
        _normalise(train["images"][pick]),
        torch.from_numpy(train["labels"][pick]),
        _normalise(test["images"][in_test]),
        torch.from_numpy(test["labels"][in_test]),
        seen,
        held,
    )


def caption_list(templates: Sequence[str] = TEMPLATES) -> list[str]:
    """Every caption: class ``c`` with template ``t`` is caption ``c * len(templates) + t``."""
    return [t.format(name) for name in FASHION_NAMES for t in templates]


class LockedTower(nn.Module):
    """A frozen text tower over a fixed list of captions: caption id -> its stored vector."""

    def __init__(self, embeddings: torch.Tensor):
        super().__init__()
        self.register_buffer("table", embeddings.detach().clone())  # (C, D), never trained
        self.out_dim = embeddings.shape[1]

    def forward(self, caption_ids: torch.Tensor) -> torch.Tensor:
        return self.table[caption_ids]  # (B, D)


class ScratchTower(nn.Module):
    """A text tower that learns from the training captions only: tokens -> mean word vector."""

    def __init__(self, tokenizer: WordTokenizer, captions: list[str], out_dim: int = 128):
        super().__init__()
        tokens = tokenizer(captions)
        self.register_buffer("input_ids", tokens["input_ids"])  # (C, L)
        self.register_buffer("mask", tokens["attention_mask"])  # (C, L)
        self.embed = nn.Embedding(len(tokenizer), out_dim, padding_idx=tokenizer.pad_id)
        self.out_dim = out_dim

    def forward(self, caption_ids: torch.Tensor) -> torch.Tensor:
        ids, mask = self.input_ids[caption_ids], self.mask[caption_ids]  # (B, L)
        words = self.embed(ids) * mask[..., None]  # (B, L, D)
        return words.sum(1) / mask.sum(1, keepdim=True).clamp(min=1)  # (B, D)


class CaptionModel(nn.Module):
    """An image tower with a projection into the text tower's space (or a shared one).

    ``forward(image, caption)`` returns ``{"image_emb", "text_emb", "logit_scale"}`` with unit
    vectors. With ``embed_dim=None`` the text vectors are used as they are (a locked tower's
    space) and only the image side learns a projection into it. ``seed`` fixes the initial
    weights of what learns.
    """

    def __init__(
        self,
        text_tower: nn.Module,
        *,
        width: int = 128,
        embed_dim: int | None = None,
        seed: int | None = None,
    ):
        super().__init__()
        if seed is not None:
            torch.manual_seed(seed)  # the same initial weights whatever ran before
        dim = embed_dim or text_tower.out_dim
        self.image_encoder = ImageEncoder(width, image_size=28, in_channels=1, channels=(32, 64))
        self.image_proj = ProjectionHead(width, dim)
        self.text_tower = text_tower
        self.text_proj = (
            nn.Identity() if embed_dim is None else ProjectionHead(text_tower.out_dim, dim)
        )
        add_temperature(self, LOGIT_SCALE_INIT, None)

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.image_proj(self.image_encoder(images)), dim=-1)  # (B, D)

    def encode_captions(self, caption_ids: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.text_proj(self.text_tower(caption_ids)), dim=-1)  # (B, D)

    def forward(self, image: torch.Tensor, caption: torch.Tensor) -> dict[str, torch.Tensor]:
        out = {"image_emb": self.encode_image(image), "text_emb": self.encode_captions(caption)}
        return {**out, **temperature_outputs(self)}


class CaptionLoader:
    """Shuffled batches ``{"image", "caption", "label"}`` of a split's training photos; each
    photo gets one of its class's captions (a random template), drawn afresh every epoch."""

    def __init__(self, split: ZeroShotSplit, *, n_templates: int = len(TEMPLATES),
                 batch_size: int = 128, seed: int = 0):  # fmt: skip
        self.split, self.n_templates, self.batch_size = split, n_templates, batch_size
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return -(-len(self.split.train_labels) // self.batch_size)

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        labels = self.split.train_labels
        order = torch.randperm(len(labels), generator=self.generator)
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            template = torch.randint(0, self.n_templates, (len(idx),), generator=self.generator)
            yield {
                "image": self.split.train_images[idx],
                "caption": labels[idx] * self.n_templates + template,  # caption_list's ids
                "label": labels[idx],
            }


def caption_loss(model: nn.Module, batch: dict) -> torch.Tensor:
    """CLIP's loss, with every photo of the batch's same class counted as a match."""
    out = model(batch["image"], batch["caption"])
    return losses.clip_loss(
        out["image_emb"], out["text_emb"], logit_scale=out["logit_scale"],
        positives=losses.positives_from_labels(batch["label"]),
    )  # fmt: skip


def train_captions(
    model: CaptionModel,
    split: ZeroShotSplit,
    *,
    epochs: int = 4,
    lr: float = 2e-3,
    batch_size: int = 128,
    seed: int = 0,
    device: str = "auto",
) -> History:
    """Train on the seen classes' photos and captions (AdamW, cosine, ``xm.train.fit``)."""
    torch.manual_seed(seed)
    loader = CaptionLoader(split, batch_size=batch_size, seed=seed)
    config = TrainConfig(
        epochs=epochs, lr=lr, optimizer="adamw", weight_decay=1e-4,
        schedule="cosine", device=device, progress=False,
    )  # fmt: skip
    return fit(model, loader, config=config, loss_fn=caption_loss)


@torch.no_grad()
def class_embeddings(
    model: CaptionModel, classes: Sequence[int], n_templates: int = len(TEMPLATES)
) -> torch.Tensor:
    """One unit vector per class: the mean of its captions' embeddings ``(C, D)``."""
    device = next(model.parameters()).device
    rows = []
    for c in classes:
        ids = torch.arange(c * n_templates, (c + 1) * n_templates, device=device)
        rows.append(model.encode_captions(ids).mean(0))  # the mean over the templates
    return F.normalize(torch.stack(rows), dim=-1)  # (C, D)


def zero_shot(model: CaptionModel, split: ZeroShotSplit, *, batch_size: int = 1000) -> float:
    """Accuracy on the held-out classes' test photos, choosing among the held-out names only."""
    device = next(model.parameters()).device
    images = split.test_images
    targets = torch.tensor([split.held_out.index(int(y)) for y in split.test_labels])
    with evaluating(model):  # eval mode and no gradients, then the model's mode as it was
        emb = torch.cat([model.encode_image(images[i : i + batch_size].to(device)).cpu()
                         for i in range(0, len(images), batch_size)])  # fmt: skip
        classes = class_embeddings(model, split.held_out).cpu()
    return zero_shot_accuracy(emb, classes, targets)
