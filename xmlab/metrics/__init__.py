"""Evaluation: retrieval, zero-shot and linear-probe classification, and probes of the space.

One module per family, every name re-exported here: ``xm.metrics.retrieval_metrics(...)``.

Explained in: notebooks/00_welcome.ipynb, notebooks/05_evaluation.ipynb and
notebooks/06_compositionality.ipynb
"""

from xmlab.metrics.classification import (
    accuracy,
    confusion_matrix,
    fit_linear_probe,
    linear_probe,
    model_accuracy,
    predict,
    zero_shot_accuracy,
    zero_shot_classifier,
    zero_shot_predict,
)
from xmlab.metrics.compositional import (
    caption_scorer,
    compositional_scores,
    embed_bags,
    embed_images,
    embed_texts,
    word_bag,
)
from xmlab.metrics.probes import (
    accuracy_under_noise,
    add_noise,
    gap_vector,
    hard_negative_accuracy,
    modality_gap,
    negative_table,
    noise_sweep,
    shift_embeddings,
)
from xmlab.metrics.retrieval import (
    CHUNK_SIZE,
    check_embeddings,
    group_ids,
    mean_average_precision,
    query_ranks,
    rank_metrics,
    recall_at_k,
    relevance_labels,
    retrieval_metrics,
    similarity_chunks,
    summarize_ranks,
)

__all__ = [
    "CHUNK_SIZE",
    "accuracy",
    "accuracy_under_noise",
    "add_noise",
    "caption_scorer",
    "check_embeddings",
    "compositional_scores",
    "confusion_matrix",
    "embed_bags",
    "embed_images",
    "embed_texts",
    "fit_linear_probe",
    "gap_vector",
    "group_ids",
    "hard_negative_accuracy",
    "linear_probe",
    "mean_average_precision",
    "modality_gap",
    "model_accuracy",
    "negative_table",
    "noise_sweep",
    "predict",
    "query_ranks",
    "rank_metrics",
    "recall_at_k",
    "relevance_labels",
    "retrieval_metrics",
    "shift_embeddings",
    "similarity_chunks",
    "summarize_ranks",
    "word_bag",
    "zero_shot_accuracy",
    "zero_shot_classifier",
    "zero_shot_predict",
]
