"""A retrieval explorer: type a caption to find images, choose an image to find captions, and
listen to the spoken clips of the captions found.

Explained in: notebooks/05_evaluation.ipynb
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import ipywidgets as widgets
import torch

from xmlab.metrics import check_embeddings
from xmlab.viz import figure_to_png, show_retrieval, wav_bytes
from xmlab.widgets.explorers import figure_widget

EncodeText = Callable[[list[str]], torch.Tensor]


class RetrievalExplorer(widgets.VBox):
    """Text -> images and image -> captions over one gallery; build it with
    :func:`retrieval_explorer`."""

    def __init__(
        self,
        encode_text: EncodeText,
        image_emb,
        text_emb,
        *,
        images,
        texts,
        labels,
        audio,
        sample_rate: int,
        k: int,
    ):
        self.encode_text, self.images, self.texts = encode_text, images, list(texts)
        self.image_emb, self.text_emb = image_emb, text_emb
        self.labels, self.audio, self.sample_rate, self.k = labels, audio, sample_rate, k
        self.query = widgets.Text(
            value=self.texts[0], description="caption", continuous_update=False
        )
        self.search = widgets.Button(description="find images", button_style="primary")
        self.image_index = widgets.IntSlider(
            value=0, min=0, max=len(images) - 1, description="image", continuous_update=False
        )
        self.image_index.add_class("xmlab-retrieval-image")
        self.text_results = figure_widget("xmlab-retrieval-text-to-image")
        self.image_results = figure_widget("xmlab-retrieval-image-to-text")
        self.players = widgets.HBox()
        self.search.on_click(lambda _: self.find_images())
        self.query.observe(lambda c: c["new"].strip() and self.find_images(), names="value")
        self.image_index.observe(lambda _: self.find_captions(), names="value")
        super().__init__(
            [
                widgets.HBox([self.query, self.search]),
                self.text_results,
                self.image_index,
                self.image_results,
                self.players,
            ]
        )
        self.find_images()
        self.find_captions()

    def find_images(self) -> torch.Tensor:
        """Embed the typed caption, show the top images; returns their indices."""
        text = self.query.value.strip()
        if not text:
            raise ValueError("type a caption to search for")
        query = check_embeddings(self.encode_text([text]), "query").to(self.image_emb.device)
        scores = (query @ self.image_emb.T)[0]  # (N,)
        self.text_results.value = figure_to_png(
            show_retrieval(scores, query=text, images=self.images, k=self.k)
        )
        return scores.topk(self.k).indices.cpu()

    def find_captions(self) -> torch.Tensor:
        """Show the captions nearest to the chosen image (with players for their spoken
        clips when the gallery has audio); returns their indices."""
        i = self.image_index.value
        scores = (self.image_emb[i : i + 1] @ self.text_emb.T)[0]  # (M,)
        relevant = (self.labels[1] == self.labels[0][i]) if self.labels else None
        self.image_results.value = figure_to_png(
            show_retrieval(
                scores,
                query=self.images[i],
                query_kind="image",
                texts=self.texts,
                relevant=relevant,
                k=self.k,
            )
        )
        top = scores.topk(self.k).indices.cpu()
        if self.audio is not None:
            self.players.children = [
                widgets.VBox(
                    [
                        widgets.Label(f"{r + 1}. {self.texts[j]}"),
                        widgets.Audio(
                            value=wav_bytes(self.audio[j], self.sample_rate),
                            format="wav",
                            autoplay=False,
                            loop=False,
                        ),
                    ]
                )
                for r, j in enumerate(top.tolist())
            ]
        return top


def retrieval_explorer(
    encode_text: EncodeText,
    image_emb: torch.Tensor,
    text_emb: torch.Tensor,
    *,
    images: torch.Tensor,
    texts: Sequence[str],
    image_labels: Sequence[int] | torch.Tensor | None = None,
    text_labels: Sequence[int] | torch.Tensor | None = None,
    audio: Sequence[torch.Tensor] | None = None,
    sample_rate: int = 8000,
    k: int = 5,
) -> RetrievalExplorer:
    """Search a gallery both ways with a trained dual encoder.

    Args:
        encode_text: captions -> ``(N, D)`` embeddings (the model's text tower).
        image_emb: (N, D) embeddings of ``images``.
        text_emb: (M, D) embeddings of ``texts``.
        images: (N, C, H, W) the images shown.
        texts: the M captions searched from an image.
        image_labels, text_labels: mark a caption ✓ when its label equals the image's
            (default: caption ``i`` belongs to image ``i``).
        audio: one waveform per caption (its spoken form), played under the results.
        sample_rate: of the audio.
        k: results shown.
    """
    image_emb, text_emb = check_embeddings(image_emb, "image"), check_embeddings(text_emb, "text")
    if len(images) != len(image_emb) or len(texts) != len(text_emb):
        raise ValueError(
            f"{len(images)} images for {len(image_emb)} image embeddings and {len(texts)} "
            f"captions for {len(text_emb)} text embeddings: one embedding per item"
        )
    if audio is not None and len(audio) != len(texts):
        raise ValueError(f"{len(audio)} audio clips for {len(texts)} captions: one per caption")
    if not 1 <= k <= min(len(images), len(texts)):
        raise ValueError(f"k={k} but the gallery has {min(len(images), len(texts))} items")
    if image_labels is None and text_labels is None and len(images) == len(texts):
        image_labels = text_labels = torch.arange(len(texts))
    labels = None
    if image_labels is not None and text_labels is not None:
        labels = (torch.as_tensor(image_labels).cpu(), torch.as_tensor(text_labels).cpu())
    return RetrievalExplorer(
        encode_text,
        image_emb,
        text_emb,
        images=images,
        texts=texts,
        labels=labels,
        audio=audio,
        sample_rate=sample_rate,
        k=k,
    )
