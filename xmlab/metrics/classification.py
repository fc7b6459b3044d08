"""Classification from embeddings: zero-shot from text prompts, and a linear probe.

*Zero-shot*: write each class as text ("the digit seven"), embed it with the text tower, and
give an image the class whose prompt embedding is most similar -- no classifier is trained.
Averaging the embeddings of several prompts per class (*template ensembling*, CLIP section 3.1.4)
makes the class vector less sensitive to the wording of any one prompt.

*Linear probe*: freeze the encoder, fit a logistic regression on its embeddings, and report test
accuracy: how much of the label the embedding holds, readable by a linear model.

Explained in: notebooks/05_evaluation.ipynb
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from xmlab import checks
from xmlab.data.loaders import TensorLoader, move_to
from xmlab.metrics.retrieval import check_embeddings
from xmlab.utils import evaluating

EncodeText = Callable[[list[str]], torch.Tensor]  # captions -> (N, D) embeddings


def zero_shot_classifier(
    encode_text: EncodeText, class_names: Sequence[str], templates: Sequence[str] = ("{}",)
) -> torch.Tensor:
    """One unit vector per class: the mean of its prompts' embeddings, normalised again.

    Args:
        encode_text: turns a list of captions into ``(N, D)`` embeddings.
        class_names: the name written into each template, e.g. ``["zero", "one", ...]``.
        templates: prompts with a ``{}`` where the class name goes, e.g. ``"the digit {}"``.

    Returns:
        ``(C, D)`` class embeddings, row ``c`` for ``class_names[c]``.
    """
    if not class_names or not templates:
        raise ValueError("zero-shot classification needs at least one class name and template")
    missing = [t for t in templates if "{}" not in t]
    if missing:
        raise ValueError(f"every template needs a '{{}}' for the class name, got {missing}")
    rows = []
    for name in class_names:
        emb = encode_text([t.format(name) for t in templates])  # (T, D)
        emb = F.normalize(check_embeddings(emb, "prompt"), dim=-1)
        rows.append(F.normalize(emb.mean(0), dim=-1))  # (D,)
    return torch.stack(rows)  # (C, D)


def zero_shot_predict(image_emb: torch.Tensor, class_emb: torch.Tensor) -> torch.Tensor:
    """The class whose prompt embedding is most similar to each image: ``(N,)`` ids."""
    image_emb, class_emb = (
        check_embeddings(image_emb, "image"),
        check_embeddings(class_emb, "class"),
    )
    checks.same_width(image_emb, class_emb, ("image", "class"))
    return (image_emb @ class_emb.to(image_emb.device).T).argmax(1).cpu()  # (N,)


def accuracy(predictions: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of predictions equal to their label."""
    predictions = torch.as_tensor(predictions).flatten().cpu()
    labels = checks.labels(labels, len(predictions), "predicted")
    if len(labels) == 0:
        raise ValueError("no predictions to score: the evaluation set is empty")
    return (predictions == labels).float().mean().item()


def zero_shot_accuracy(image_emb: torch.Tensor, class_emb: torch.Tensor, labels) -> float:
    """Accuracy of :func:`zero_shot_predict` against ``labels`` (class ids, ``(N,)``)."""
    labels = checks.labels(labels, len(image_emb), "image")
    return accuracy(zero_shot_predict(image_emb, class_emb), labels)


def confusion_matrix(labels, predictions, *, n_classes: int | None = None) -> torch.Tensor:
    """``(C, C)`` counts: row = true class, column = predicted class."""
    predictions = torch.as_tensor(predictions).flatten().long().cpu()
    labels = checks.labels(labels, len(predictions), "predicted")
    n_classes = n_classes or int(max(labels.max(), predictions.max())) + 1
    if labels.max() >= n_classes or predictions.max() >= n_classes:
        raise ValueError(f"class ids must be below n_classes={n_classes}")
    flat = labels * n_classes + predictions  # (N,) cell index
    return torch.bincount(flat, minlength=n_classes**2).view(n_classes, n_classes)


def fit_linear_probe(
    train_emb: torch.Tensor, train_labels, *, c: float = 1.0, max_iter: int = 1000
):
    """A scikit-learn ``LogisticRegression`` fitted on frozen embeddings (``c``: inverse L2
    strength). Call ``.predict(test_emb.numpy())`` on the result."""
    from sklearn.linear_model import LogisticRegression

    train_emb = check_embeddings(train_emb, "training")
    labels = checks.labels(train_labels, len(train_emb), "training")
    if labels.unique().numel() < 2:
        raise ValueError("a linear probe needs at least two classes among the training labels")
    probe = LogisticRegression(C=c, max_iter=max_iter)
    return probe.fit(train_emb.cpu().numpy(), labels.numpy())


def linear_probe(
    train_emb: torch.Tensor,
    train_labels,
    test_emb: torch.Tensor,
    test_labels,
    *,
    c: float = 1.0,
    max_iter: int = 1000,
) -> float:
    """Test accuracy of a logistic regression fitted on the training embeddings.

    Shapes:
        train_emb: (N, D), train_labels: (N,), test_emb: (M, D), test_labels: (M,) -> float.
    """
    probe = fit_linear_probe(train_emb, train_labels, c=c, max_iter=max_iter)
    test_emb = check_embeddings(test_emb, "test")
    checks.same_width(test_emb, train_emb, ("test", "training"))
    predictions = torch.from_numpy(probe.predict(test_emb.cpu().numpy()))
    return accuracy(predictions, checks.labels(test_labels, len(test_emb), "test"))


def predict(model: nn.Module, data: dict[str, torch.Tensor], *, batch_size: int = 256):
    """The class a classifier gives each item of a dict of tensors: ``(N,)`` ids on the CPU.

    ``model(batch)`` returns logits ``(B, C)`` or a dict holding ``"logits"`` (a fusion or
    multi-task model); it runs in eval mode and stays on its device.
    """
    device = next(model.parameters()).device
    preds = []
    with evaluating(model):
        for batch in TensorLoader(data, batch_size=batch_size):
            out = model(move_to(batch, device))
            logits = out["logits"] if isinstance(out, dict) else out  # (B, C)
            preds.append(logits.argmax(-1).cpu())
    return torch.cat(preds)


def model_accuracy(model: nn.Module, data: dict[str, torch.Tensor]) -> float:
    """Fraction of ``data``'s items whose predicted class (:func:`predict`) is ``data["label"]``."""
    checks.batch_keys(data, ["label"], "scoring a classifier", fix="add data['label']")
    return accuracy(predict(model, data), data["label"])
