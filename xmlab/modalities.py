"""The modality registry: a modality is a preprocessing function plus an encoder, by name.

To the rest of the kit a modality is only two things:

- a **preprocessing** function that turns raw data (pixels, captions, waveforms, sensor
  readings...) into a dict of tensors, keyed by the names its encoder reads;
- an **encoder** factory, ``factory(out_dim, **options)``, that builds a module mapping those
  tensors to ``(B, out_dim)`` feature vectors.

``register_modality`` adds one; ``multi_encoder`` builds a model over any registered set, which
returns ``"<name>_emb"`` embeddings in one shared space. Losses, ``xm.train.fit`` and the
metrics only ever see embeddings, so none of them changes when a modality is added.

    xm.modalities.register_modality(
        "sensor", preprocess=standardise, encoder=SensorEncoder, inputs=("sensor",)
    )
    model = xm.modalities.multi_encoder(["sensor", "text"], options={"text": {...}})

Explained in: notebooks/02_common_representation.ipynb
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from xmlab import checks
from xmlab.encoders import AudioEncoder, GRUTextEncoder, ImageEncoder, MultiEncoder, TextEncoder
from xmlab.encoders.multi import DEFAULT_INPUTS
from xmlab.preprocess import normalize_images
from xmlab.preprocess.audio import log_mel

Preprocess = Callable[..., dict[str, torch.Tensor]]
EncoderFactory = Callable[..., nn.Module]


@dataclass(frozen=True)
class Modality:
    """One registered modality: how to prepare its data and how to build its encoder."""

    name: str  # also the prefix of its embedding key: "<name>_emb"
    preprocess: Preprocess  # raw data -> {input key: tensor}
    encoder: EncoderFactory  # encoder(out_dim, **options) -> module, inputs -> (B, out_dim)
    inputs: tuple[str, ...]  # the keys the encoder reads, in call order
    description: str = ""


_REGISTRY: dict[str, Modality] = {}


def register_modality(
    name: str,
    *,
    preprocess: Preprocess,
    encoder: EncoderFactory,
    inputs: Sequence[str] | None = None,
    description: str = "",
    replace: bool = False,
) -> Modality:
    """Add a modality to the registry and return it.

    Args:
        name: a short identifier such as ``"sensor"`` (letters, digits, underscores).
        preprocess: ``preprocess(raw, **options) -> {key: tensor}`` with the keys of ``inputs``.
        encoder: ``encoder(out_dim, **options) -> nn.Module``, called with the tensors of
            ``inputs`` in that order and returning ``(B, out_dim)``.
        inputs: the batch keys the encoder reads (default: just ``name``).
        description: one line for :func:`describe`.
        replace: allow replacing a modality of the same name.
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(
            f"a modality name must be an identifier like 'sensor', got {name!r}: use letters, "
            "digits and underscores"
        )
    if name in _REGISTRY and not replace:
        raise ValueError(
            f"modality {name!r} is already registered (expected a new name): pick another "
            "name, or pass replace=True to redefine it"
        )
    if not callable(preprocess) or not callable(encoder):
        raise TypeError(
            f"preprocess and encoder must be callables, got {type(preprocess).__name__} and "
            f"{type(encoder).__name__}: pass a function or a class for each"
        )
    if isinstance(inputs, str) or not all(isinstance(k, str) for k in inputs or ()):
        raise TypeError(
            f"inputs must be a list of batch keys, got {inputs!r}: e.g. inputs=({name!r},), "
            "one key per tensor the encoder reads"
        )
    modality = Modality(name, preprocess, encoder, tuple(inputs or (name,)), description)
    _REGISTRY[name] = modality
    return modality


def unregister_modality(name: str) -> None:
    """Remove a modality from the registry (e.g. at the end of a lesson)."""
    get_modality(name)
    del _REGISTRY[name]


def get_modality(name: str) -> Modality:
    """The registered modality ``name``, or an error that lists the known ones."""
    if name not in _REGISTRY:
        raise KeyError(
            f"unknown modality {name!r}: registered are {', '.join(modality_names())}; "
            "add one with xm.modalities.register_modality"
        )
    return _REGISTRY[name]


def modality_names() -> list[str]:
    """The names of every registered modality, in registration order."""
    return list(_REGISTRY)


def describe() -> dict[str, str]:
    """``{name: "inputs -> description"}`` for every registered modality."""
    return {m.name: f"{', '.join(m.inputs)} -> {m.description}" for m in _REGISTRY.values()}


def preprocess(name: str, raw: Any, **options) -> dict[str, torch.Tensor]:
    """Run modality ``name``'s preprocessing on ``raw`` and check it gave every input key."""
    modality = get_modality(name)
    out = modality.preprocess(raw, **options)
    if not isinstance(out, dict):
        raise TypeError(
            f"the {name!r} preprocessing returned {type(out).__name__}, expected a dict of "
            f"tensors with the keys {list(modality.inputs)}: return {{key: tensor, ...}}"
        )
    missing = [k for k in modality.inputs if k not in out]
    if missing:
        raise ValueError(
            f"the {name!r} preprocessing returned {sorted(out)} but its encoder reads "
            f"{list(modality.inputs)}: return a dict with those keys"
        )
    return out


def build_encoder(name: str, out_dim: int, **options) -> nn.Module:
    """Build modality ``name``'s encoder with ``out_dim`` features."""
    encoder = get_modality(name).encoder(out_dim, **options)
    if not isinstance(encoder, nn.Module):
        raise TypeError(
            f"the {name!r} encoder factory returned {type(encoder).__name__}, expected an "
            "nn.Module: register a module class, or a function that builds one"
        )
    return encoder


def multi_encoder(
    names: Sequence[str],
    *,
    width: int = 128,
    embed_dim: int = 128,
    hidden: int | None = None,
    options: Mapping[str, Mapping[str, Any]] | None = None,
    **model_options,
) -> MultiEncoder:
    """A :class:`~xmlab.encoders.MultiEncoder` over registered modalities.

    Args:
        names: the modalities, e.g. ``["image", "text"]``.
        width: features of every encoder before its projection head.
        embed_dim: size of the shared space.
        hidden: hidden size of MLP projection heads (``None``: linear heads).
        options: per-modality encoder options, e.g. ``{"text": {"vocab_size": 40}}``.
        **model_options: passed on to ``MultiEncoder`` (``init_logit_bias=-10``, ...).
    """
    if isinstance(names, str) or len(set(names)) != len(names) or not names:
        raise ValueError(
            f"pass a list of distinct modality names, got {names!r}: e.g. ['image', 'text']"
        )
    options = dict(options or {})
    unknown = sorted(set(options) - set(names))
    if unknown:
        raise ValueError(
            f"options given for {unknown}, which are not among {list(names)}: key the options "
            "by the modalities of the model"
        )
    encoders = {n: build_encoder(n, width, **options.get(n, {})) for n in names}
    return MultiEncoder(
        encoders,
        {n: width for n in names},
        embed_dim=embed_dim,
        hidden=hidden,
        inputs={n: get_modality(n).inputs for n in names},
        **model_options,
    )


# --- the built-in modalities ------------------------------------------------------------------


def _prepare_images(images: torch.Tensor, **options) -> dict[str, torch.Tensor]:
    return {"image": normalize_images(images, **options)}


def _prepare_texts(texts: list[str], *, tokenizer) -> dict[str, torch.Tensor]:
    return dict(tokenizer(texts))


def _prepare_audio(waves: torch.Tensor, **options) -> dict[str, torch.Tensor]:
    return {"audio": log_mel(waves, **options)}


def _text_encoder(out_dim: int, *, vocab_size: int, kind: str = "transformer", **options):
    kinds = {"transformer": TextEncoder, "gru": GRUTextEncoder}
    checks.one_of(kind, list(kinds), "text encoder kind")
    return kinds[kind](vocab_size, out_dim, **options)


register_modality(
    "image",
    preprocess=_prepare_images,
    encoder=ImageEncoder,
    inputs=DEFAULT_INPUTS["image"],
    description="pixels (B, 3, H, W), a small CNN",
)
register_modality(
    "text",
    preprocess=_prepare_texts,
    encoder=_text_encoder,
    inputs=DEFAULT_INPUTS["text"],
    description="token ids and padding mask (B, L), a Transformer (or kind='gru')",
)
register_modality(
    "audio",
    preprocess=_prepare_audio,
    encoder=AudioEncoder,
    inputs=DEFAULT_INPUTS["audio"],
    description="log-mel spectrograms (B, n_mels, frames), a CNN pooled over time",
)
