"""The contrastive loss across ranks: gather with gradient, then score locally.

Each rank scores its own B pairs against the N pairs of all ranks (the "local loss"); the
mean over ranks equals :func:`xmlab.losses.clip_loss` on the full batch.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F

from xmlab import losses


def local_clip_loss(
    image_emb: torch.Tensor,
    text_emb: torch.Tensor,
    all_image_emb: torch.Tensor,
    all_text_emb: torch.Tensor,
    *,
    logit_scale: torch.Tensor | float,
    offset: int,
) -> torch.Tensor:
    """CLIP's symmetric InfoNCE for one rank's B pairs against all N gathered pairs.

    Each local image must pick its own caption among all N captions (column ``offset + i``),
    and each local caption its own image among all N images. Averaged over the ranks, these
    losses equal :func:`xmlab.losses.clip_loss` on the full batch.

    Shapes:
        image_emb, text_emb: (B, D) this rank's pairs; all_image_emb, all_text_emb: (N, D) every
        rank's pairs in rank order; logit_scale: scalar; offset: ``rank * B`` -> scalar.
    """
    losses.check_pair(image_emb, text_emb)
    losses.check_pair(all_image_emb, all_text_emb, names=("gathered image", "gathered text"))
    b, n = image_emb.shape[0], all_image_emb.shape[0]
    if image_emb.shape[1] != all_image_emb.shape[1]:
        raise ValueError(
            f"local rows have {image_emb.shape[1]} dims, gathered rows have "
            f"{all_image_emb.shape[1]}: gather the same embeddings you score"
        )
    if not 0 <= offset <= n - b:
        raise ValueError(
            f"offset {offset} puts {b} local pairs outside the {n} gathered pairs: "
            "pass offset = rank * local batch size"
        )
    logits_per_image = logit_scale * image_emb @ all_text_emb.T  # (B, N)
    logits_per_text = logit_scale * text_emb @ all_image_emb.T  # (B, N)
    targets = torch.arange(b, device=image_emb.device) + offset  # (B,) my pairs' columns
    return (
        F.cross_entropy(logits_per_image, targets) + F.cross_entropy(logits_per_text, targets)
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


def distributed_clip_loss(
    image_emb: torch.Tensor,
    text_emb: torch.Tensor,
    *,
    logit_scale: torch.Tensor | float,
    gather: bool = True,
) -> torch.Tensor:
    """This rank's CLIP loss: against every rank's pairs (``gather=True``) or only its own.

    ``gather=False`` is plain data parallelism: each rank has B - 1 negatives instead of N - 1,
    an easier task and a weaker training signal. In one process both equal ``clip_loss``.
    """
    rank, world_size = world()
    if not gather or world_size == 1:
        return losses.clip_loss(image_emb, text_emb, logit_scale=logit_scale)
    all_image, all_text = gather_with_grad(image_emb), gather_with_grad(text_emb)  # (N, D)
    offset = rank * image_emb.shape[0]
    return local_clip_loss(
        image_emb, text_emb, all_image, all_text, logit_scale=logit_scale, offset=offset
    )
