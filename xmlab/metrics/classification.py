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

from xmlab.metrics.retrieval import check_embeddings

EncodeText = Callable[[list[str]], torch.Tensor]  # captions -> (N, D) embeddings


def _check_labels(labels, n: int, name: str) -> torch.Tensor:
    if labels is None:
        raise ValueError(f"{name} needs a label for every item: pass labels")
    labels = torch.as_tensor(labels).flatten().long().cpu()
    if len(labels) != n:
        raise ValueError(f"got {len(labels)} labels for {n} {name} embeddings: one label per item")
    return labels


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
    if image_emb.shape[1] != class_emb.shape[1]:
        raise ValueError(
            f"image embeddings have {image_emb.shape[1]} dimensions but class embeddings "
            f"{class_emb.shape[1]}: embed both with the same model"
        )
    return (image_emb @ class_emb.to(image_emb.device).T).argmax(1).cpu()  # (N,)


def accuracy(predictions: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of predictions equal to their label."""
    predictions = torch.as_tensor(predictions).flatten().cpu()
    labels = _check_labels(labels, len(predictions), "predicted")
    if len(labels) == 0:
        raise ValueError("no predictions to score: the evaluation set is empty")
    return (predictions == labels).float().mean().item()


def zero_shot_accuracy(image_emb: torch.Tensor, class_emb: torch.Tensor, labels) -> float:
    """Accuracy of :func:`zero_shot_predict` against ``labels`` (class ids, ``(N,)``)."""
    labels = _check_labels(labels, len(image_emb), "image")
    return accuracy(zero_shot_predict(image_emb, class_emb), labels)


def confusion_matrix(labels, predictions, *, n_classes: int | None = None) -> torch.Tensor:
    """``(C, C)`` counts: row = true class, column = predicted class."""
    predictions = torch.as_tensor(predictions).flatten().long().cpu()
    labels = _check_labels(labels, len(predictions), "predicted")
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
    labels = _check_labels(train_labels, len(train_emb), "training")
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
    if test_emb.shape[1] != train_emb.shape[1]:
        raise ValueError(
            f"test embeddings have {test_emb.shape[1]} dimensions, training ones "
            f"{train_emb.shape[1]}: use the same encoder for both"
        )
    predictions = torch.from_numpy(probe.predict(test_emb.cpu().numpy()))
    return accuracy(predictions, _check_labels(test_labels, len(test_emb), "test"))
