"""Batch norm whose statistics cover the batches of every rank, on gloo as on NCCL."""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn

from xmlab.distributed.loss import world


class AllReduceWithGrad(torch.autograd.Function):
    """Sum a tensor over ranks; its gradient is summed over ranks the same way."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        x = x.clone()
        dist.all_reduce(x)
        return x

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.contiguous().clone()
        dist.all_reduce(grad)
        return grad


class BatchNorm2dAcrossRanks(nn.BatchNorm2d):
    """``BatchNorm2d`` whose batch statistics cover the batches of every rank.

    Batch norm, like the contrastive loss, couples the items of a batch: under plain DDP each
    rank would normalise with its own B items and training would no longer equal one process
    with the whole batch. Unlike ``nn.SyncBatchNorm`` this also runs with gloo on the CPU.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or world()[1] == 1:
            return super().forward(x)
        x = x.to(torch.promote_types(x.dtype, torch.float32))  # no bf16 statistics
        c, count = x.shape[1], x.new_tensor([x.numel() / x.shape[1]])  # values per channel
        stats = torch.cat([x.sum((0, 2, 3)), (x * x).sum((0, 2, 3)), count])  # (2C + 1,)
        stats = AllReduceWithGrad.apply(stats)  # over every rank's batch
        n, mean = stats[-1], stats[:c] / stats[-1]  # (C,)
        var = (stats[c : 2 * c] / n - mean * mean).clamp_min(0)  # (C,) biased, as BN normalises
        if self.track_running_stats:
            self._update_running(mean.detach(), var.detach() * n / (n - 1))
        x = (x - mean[:, None, None]) / torch.sqrt(var[:, None, None] + self.eps)  # (B, C, H, W)
        return x * self.weight[:, None, None] + self.bias[:, None, None] if self.affine else x

    @torch.no_grad()
    def _update_running(self, mean: torch.Tensor, unbiased_var: torch.Tensor) -> None:
        self.num_batches_tracked += 1
        m = self.momentum if self.momentum is not None else 1 / self.num_batches_tracked.item()
        self.running_mean.lerp_(mean.to(self.running_mean.dtype), m)
        self.running_var.lerp_(unbiased_var.to(self.running_var.dtype), m)


def batchnorm_across_ranks(module: nn.Module) -> nn.Module:
    """Replace every ``BatchNorm2d`` inside ``module`` by :class:`BatchNorm2dAcrossRanks`."""
    for name, child in module.named_children():
        if type(child) is nn.BatchNorm2d:
            synced = BatchNorm2dAcrossRanks(
                child.num_features,
                child.eps,
                child.momentum,
                child.affine,
                child.track_running_stats,
            )
            synced.load_state_dict(child.state_dict())
            setattr(module, name, synced.to(child.weight.device, child.weight.dtype))
        else:
            batchnorm_across_ranks(child)
    return module
