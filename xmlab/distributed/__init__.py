"""Distributed contrastive learning: gather with gradient, the local loss, a torchrun entry point.

Data parallelism splits a batch of N pairs over W processes ("ranks"), B = N / W pairs each.
For most losses each rank can score its own B items and ``DistributedDataParallel`` (DDP)
averages the gradients. A contrastive loss is different: the negatives of an image are the
*other captions in the batch*, and most of them live on other ranks. So each rank

1. gathers the embeddings of every rank, with gradient, so the rows it borrows still learn;
2. scores its own B rows against all N gathered columns: a (B, N) logits matrix, not (N, N);
3. takes the cross-entropy with targets offset by ``rank * B``, where its pairs sit among the
   gathered columns.

This is the "local loss" of large-scale CLIP training (open_clip's ``--local-loss
--gather-with-grad``). The mean of the ranks' local losses is exactly the full-batch loss, and
once DDP has averaged the gradients every rank holds exactly the full-batch gradient.

Train on 2 CPU processes (gloo) or 2 GPUs (NCCL) with the same command::

    torchrun --nproc_per_node=2 -m xmlab.distributed --steps 50 --batch-size 32 --out runs/ddp

Explained in: notebooks/09_scaling_out.ipynb

The pieces live in four modules, all re-exported here:

- :mod:`~xmlab.distributed.loss`: ``gather_with_grad``, ``local_clip_loss`` (on top of
  ``xm.losses.info_nce``), ``distributed_clip_loss``;
- :mod:`~xmlab.distributed.batchnorm`: batch norm whose statistics cover every rank;
- :mod:`~xmlab.distributed.training`: joining the process group, and the training run (the
  kit's own ``xm.train.fit`` with each rank's shard of the batch and the gathered loss);
- :mod:`~xmlab.distributed.launch`: the command line and ``torchrun`` from Python.
"""

from xmlab.distributed.batchnorm import (
    AllReduceWithGrad,
    BatchNorm2dAcrossRanks,
    batchnorm_across_ranks,
)
from xmlab.distributed.launch import (
    TRAIN_OPTIONS,
    build_parser,
    free_port,
    launch,
    main,
    options,
    to_args,
    torchrun_command,
)
from xmlab.distributed.loss import (
    GatherWithGrad,
    distributed_clip_loss,
    gather_labels,
    gather_with_grad,
    local_clip_loss,
    world,
)
from xmlab.distributed.training import (
    RunConfig,
    choose_backend,
    gathered_loss,
    save_run,
    setup,
    shard_batches,
    train,
)

__all__ = [
    "TRAIN_OPTIONS",
    "AllReduceWithGrad",
    "BatchNorm2dAcrossRanks",
    "GatherWithGrad",
    "RunConfig",
    "batchnorm_across_ranks",
    "build_parser",
    "choose_backend",
    "distributed_clip_loss",
    "free_port",
    "gather_labels",
    "gather_with_grad",
    "gathered_loss",
    "launch",
    "local_clip_loss",
    "main",
    "options",
    "save_run",
    "setup",
    "shard_batches",
    "to_args",
    "torchrun_command",
    "train",
    "world",
]
