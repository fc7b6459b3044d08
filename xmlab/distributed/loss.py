"""The contrastive loss across ranks: gather with gradient, then score locally.

Each rank scores its own B pairs against the N pairs of all ranks (the "local loss"); the
mean over ranks equals :func:`xmlab.losses.clip_loss` on the full batch.
"""

from __future__ import annotations

import torch
import torch.distributed as dist

from xmlab import checks, losses


def local_clip_loss(
    image_emb: torch.Tensor,
    text_emb: torch.Tensor,
    all_image_emb: torch.Tensor,
    all_text_emb: torch.Tensor,
    *,
    logit_scale: torch.Tensor | float,
    offset: int,
    positives: torch.Tensor | None = None,
) -> torch.Tensor:
    """CLIP's symmetric InfoNCE for one rank's B pairs against all N gathered pairs.

    Each local image must pick its own caption among all N captions (column ``offset + i``),
    and each local caption its own image among all N images: ``xm.losses.info_nce`` on
    rectangular (B, N) logits. Averaged over the ranks, these losses equal
    :func:`xmlab.losses.clip_loss` on the full batch (with the full batch's positives mask).

    Shapes:
        image_emb, text_emb: (B, D) this rank's pairs; all_image_emb, all_text_emb: (N, D) every
        rank's pairs in rank order; logit_scale: scalar; offset: ``rank * B``; positives:
        (B, N) bool or None (this rank's rows of the full batch's mask) -> scalar.
    """
    checks.pair(image_emb, text_emb)
    checks.pair(all_image_emb, all_text_emb, names=("gathered image", "gathered text"))
    checks.same_width(image_emb, all_image_emb, ("local", "gathered"))
    scale = checks.scalar(logit_scale, "logit_scale", hint="e.g. model.logit_scale.exp()")
    logits_per_image = scale * image_emb @ all_text_emb.T  # (B, N)
    logits_per_text = scale * text_emb @ all_image_emb.T  # (B, N)
    return (
        losses.info_nce(logits_per_image, positives=positives, offset=offset)
        + losses.info_nce(logits_per_text, positives=positives, offset=offset)
    ) / 2


# ----------------------------------------------------------------------------- gathering


def world() -> tuple[int, int]:
    """``(rank, world_size)`` of this process; ``(0, 1)`` when no process group is running."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


class GatherWithGrad(torch.autograd.Function):
    """``all_gather`` that lets gradients flow back to the rank that owns each row.

    ``torch.distributed.all_gather`` fills plain tensors: the borrowed rows would be constants
    and the other ranks' losses could not teach this rank's encoder. Here every rank's loss
    touches every row, so the backward pass adds (all-reduces) the gradients of all ranks and
    hands each rank the slice of its own rows.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        ctx.rank, world_size = world()
        ctx.rows = x.shape[0]
        parts = [torch.empty_like(x) for _ in range(world_size)]
        dist.all_gather(parts, x.contiguous())
        return torch.cat(parts)  # (W * B, D)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.contiguous().clone()  # (W * B, D), this rank's loss only
        dist.all_reduce(grad)  # summed over every rank's loss
        return grad[ctx.rank * ctx.rows : (ctx.rank + 1) * ctx.rows]  # (B, D)


def gather_with_grad(x: torch.Tensor) -> torch.Tensor:
    """Concatenate ``x`` from every rank in rank order, keeping the gradient path.

    Shapes:
        x: (B, D) on each rank, the same B everywhere -> (W * B, D). Without a process group
        ``x`` comes back unchanged.
    """
    _, world_size = world()
    if world_size == 1:
        return x
    rows = torch.tensor([x.shape[0]], device=x.device)
    all_rows = [torch.empty_like(rows) for _ in range(world_size)]
    dist.all_gather(all_rows, rows)
    if len({int(r) for r in all_rows}) != 1:
        raise ValueError(
            f"ranks hold {[int(r) for r in all_rows]} rows: every rank needs the "
            "same batch size (use drop_last=True in the sampler)"
        )
    return GatherWithGrad.apply(x)


def gather_labels(labels: torch.Tensor) -> torch.Tensor:
    """Every rank's labels in rank order, without gradient: ``(B,)`` -> ``(W * B,)``."""
    _, world_size = world()
    if world_size == 1:
        return labels
    parts = [torch.empty_like(labels) for _ in range(world_size)]
    dist.all_gather(parts, labels.contiguous())
    return torch.cat(parts)


def distributed_clip_loss(
    image_emb: torch.Tensor,
    text_emb: torch.Tensor,
    *,
    logit_scale: torch.Tensor | float,
    gather: bool = True,
    labels: torch.Tensor | None = None,
) -> torch.Tensor:
    """This rank's CLIP loss: against every rank's pairs (``gather=True``) or only its own.

    ``gather=False`` is plain data parallelism: each rank has B - 1 negatives instead of N - 1,
    an easier task and a weaker training signal. With ``labels`` (one per pair), pairs that
    share a label are positives of each other, across ranks too. In one process both equal
    ``clip_loss``.
    """
    rank, world_size = world()
    if not gather or world_size == 1:
        positives = None if labels is None else losses.positives_from_labels(labels)
        return losses.clip_loss(image_emb, text_emb, logit_scale=logit_scale, positives=positives)
    all_image, all_text = gather_with_grad(image_emb), gather_with_grad(text_emb)  # (N, D)
    positives = None
    if labels is not None:
        positives = losses.positives_from_labels(labels, gather_labels(labels))  # (B, N)
    return local_clip_loss(
        image_emb,
        text_emb,
        all_image,
        all_text,
        logit_scale=logit_scale,
        offset=rank * image_emb.shape[0],
        positives=positives,
    )
