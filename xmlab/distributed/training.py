"""Joining the process group and one distributed training run on Shapes.

Every rank builds the same data and initial weights from the seed, draws its shard of each
global batch, and trains a ``DistributedDataParallel`` model with the kit's own loop,
``xm.train.fit``: the only distributed parts are the batches (each rank's shard), the loss
hook (the gathered CLIP loss) and a callback that averages the logged loss over ranks. The
configuration extends ``xm.train.TrainConfig``; rank 0 writes the results.
"""

from __future__ import annotations

import io
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import BatchSampler, DistributedSampler

from xmlab.data import encode_pairs, make_shapes
from xmlab.distributed.batchnorm import batchnorm_across_ranks
from xmlab.distributed.loss import distributed_clip_loss
from xmlab.encoders import shapes_dual_encoder
from xmlab.preprocess import WordTokenizer
from xmlab.train import Callback, TrainConfig, fit
from xmlab.utils import atomic_write, get_device, seed_everything


def choose_backend(device: torch.device) -> str:
    """NCCL for CUDA devices, gloo for everything else (CPU)."""
    return "nccl" if device.type == "cuda" else "gloo"


def setup(device: str = "auto") -> tuple[int, int, torch.device]:
    """Join the process group that ``torchrun`` describes in the environment.

    Returns ``(rank, world_size, device)``; on CUDA each process takes GPU ``LOCAL_RANK``.
    Started without torchrun (no ``RANK`` / ``WORLD_SIZE``), it returns ``(0, 1, device)``.
    """
    dev = get_device(device)
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        return 0, 1, dev
    if dev.type == "cuda":
        local_rank = int(os.environ.get("LOCAL_RANK", 0))
        if local_rank >= torch.cuda.device_count():
            raise ValueError(
                f"process {local_rank} needs its own GPU but this machine has "
                f"{torch.cuda.device_count()}: start fewer processes or use --device cpu"
            )
        dev = torch.device("cuda", local_rank)
        torch.cuda.set_device(dev)
    if not dist.is_initialized():
        dist.init_process_group(choose_backend(dev))
    return dist.get_rank(), dist.get_world_size(), dev


# ----------------------------------------------------------------------------- training


@dataclass
class RunConfig(TrainConfig):
    """One distributed training run on Shapes: a ``TrainConfig`` (``lr``, ``optimizer``,
    ``precision``, ``device``, ...) plus what the run builds. Each epoch is ``steps`` optimiser
    steps; the options of ``python -m xmlab.distributed`` are listed in ``OPTIONS``."""

    steps: int = field(default=20, metadata={"help": "optimiser steps per epoch"})
    batch_size: int = field(default=32, metadata={"help": "pairs per process and step"})
    pairs: int = field(default=1024, metadata={"help": "Shapes training pairs"})
    seed: int = field(default=0, metadata={"help": "seeds data, order and initial weights"})
    width: int = field(default=64, metadata={"help": "width of both encoders"})
    embed_dim: int = field(default=32, metadata={"help": "size of the shared space"})
    gather: bool = field(default=True, metadata={"help": "score against every rank's pairs"})
    dtype: str = field(default="float32", metadata={"help": "float32, or float64 for checks"})
    out: str = field(default="", metadata={"help": "folder for result.json and model.pt"})
    log_every: int = field(default=10, metadata={"help": "print the loss every this many steps"})
    epochs: int = 1  # TrainConfig's: the run is epochs x steps optimiser steps
    optimizer: str = "adamw"  # TrainConfig's, with AdamW as the default here
    progress: bool = False  # TrainConfig's: ranks print their own progress (log_every)

    def check(self) -> None:
        """``TrainConfig.check``, and what a distributed run cannot do."""
        super().check()
        if self.steps < 1 or self.batch_size < 1:
            raise ValueError(
                f"steps and batch_size must be at least 1, got {self.steps} and {self.batch_size}"
            )
        if self.precision not in ("fp32", "bf16") or self.dtype not in ("float32", "float64"):
            raise ValueError(
                f"precision must be fp32 or bf16 and dtype float32 or float64, got "
                f"{self.precision!r} and {self.dtype!r}"
            )
        if self.precision == "bf16" and self.dtype == "float64":
            raise ValueError("bf16 autocast with float64 weights mixes two aims: pick one")


def shard_batches(n: int, *, batch_size: int, rank: int, world_size: int, seed: int):
    """Endless index batches of this rank: a ``DistributedSampler``, reshuffled every epoch.

    At each step the ranks' batches together are the batch of ``batch_size * world_size``
    that one process would draw with the same seed, so runs on 1 and 2 processes match.
    """
    sampler = DistributedSampler(
        range(n), num_replicas=world_size, rank=rank, seed=seed, shuffle=True, drop_last=True
    )
    batches, epoch = BatchSampler(sampler, batch_size, drop_last=True), 0
    while True:
        sampler.set_epoch(epoch)
        yield from (torch.tensor(idx) for idx in batches)
        epoch += 1


class _Shards:
    """``steps`` batches of this rank's shards per pass: the loader ``fit`` reads."""

    def __init__(self, tensors: dict, config: RunConfig, rank: int, world_size: int):
        self.tensors, self.steps, self.dtype = tensors, config.steps, getattr(torch, config.dtype)
        n, size = len(tensors["image"]), config.batch_size
        self.indices = shard_batches(n, batch_size=size, rank=rank, world_size=world_size,
                                     seed=config.seed)  # fmt: skip

    def __len__(self) -> int:
        return self.steps

    def __iter__(self):
        for _, idx in zip(range(self.steps), self.indices):
            batch = {k: v[idx] for k, v in self.tensors.items()}
            yield {**batch, "image": batch["image"].to(self.dtype)}


def gathered_loss(gather: bool = True):
    """A ``loss_fn(model, batch)`` for ``fit``: this rank's CLIP loss against every rank's
    pairs (``gather=True``) or its own only. The loss is computed in float32 even under bf16
    autocast: the softmax over N columns wants the precision."""

    def loss_fn(model: nn.Module, batch: dict) -> torch.Tensor:
        out = model(batch["image"], batch["input_ids"], batch["attention_mask"])
        img, txt = out["image_emb"], out["text_emb"]
        with torch.autocast(img.device.type, enabled=False):
            img, txt = img.to(torch.promote_types(img.dtype, torch.float32)), txt.to(img.dtype)
            return distributed_clip_loss(img, txt, logit_scale=out["logit_scale"], gather=gather)

    return loss_fn


class _RankLog(Callback):
    """Averages each step's loss over the ranks (the full-batch loss when gathering), prints
    it every ``log_every`` steps on rank 0, and starts the clock after step 1 (warm-up)."""

    def __init__(self, rank: int, world_size: int, log_every: int, total: int):
        self.rank, self.world_size, self.log_every, self.total = rank, world_size, log_every, total
        self.losses, self.start = [], time.perf_counter()

    def on_step(self, row: dict, model: nn.Module) -> None:
        self.losses.append(
            _mean_over_ranks(torch.tensor(row["loss"], dtype=torch.float64), self.world_size)
        )
        if row["step"] == 1:
            self.start = time.perf_counter()
        if self.rank == 0 and self.log_every and row["step"] % self.log_every == 0:
            print(f"step {row['step']}/{self.total}  loss {self.losses[-1]:.4f}", flush=True)


def _mean_over_ranks(value: torch.Tensor, world_size: int) -> float:
    if world_size > 1:
        value = value.clone()
        dist.all_reduce(value)
    return value.item() / world_size


def train(config: RunConfig) -> dict:
    """Train a Shapes dual encoder on this process's shard; rank 0 writes the results.

    Returns a dict with the losses per step (averaged over ranks: the full-batch loss when
    gathering), the throughput in pairs per second, and a checksum of the final weights.
    Rank 0 also saves ``result.json`` and ``model.pt`` in ``config.out`` when it is set.
    """
    rank, world_size, device = setup(config.device)
    try:
        _check_fits(config, world_size)
        seed_everything(config.seed)  # the same data and initial weights on every rank
        tensors, tokenizer, model = _build(config, world_size, device)
        log = _RankLog(rank, world_size, config.log_every, config.epochs * config.steps)
        fit(model, _Shards(tensors, config, rank, world_size), config=config,
            loss_fn=gathered_loss(config.gather), callbacks=[log])  # fmt: skip
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        result = _summary(config, log, model, world_size, device)
        if rank == 0 and config.out:
            save_run(result, getattr(model, "module", model), tokenizer, config.out)
        if world_size > 1:
            dist.barrier()  # no rank closes its connections while rank 0 still writes
        return result
    finally:
        if world_size > 1:
            dist.destroy_process_group()


def _check_fits(config: RunConfig, world_size: int) -> None:
    if config.pairs < config.batch_size * world_size:
        raise ValueError(
            f"{config.pairs} pairs cannot fill one step of {world_size} processes x "
            f"{config.batch_size} pairs: raise --pairs or lower --batch-size"
        )


def _build(config: RunConfig, world_size: int, device: torch.device):
    """Shapes tensors, their tokenizer, and the model (wrapped in DDP on several processes)."""
    data = make_shapes(config.pairs, seed=config.seed)
    tokenizer = WordTokenizer.build(data.captions)
    model = shapes_dual_encoder(len(tokenizer), embed_dim=config.embed_dim, width=config.width)
    model = model.to(device=device, dtype=getattr(torch, config.dtype))
    if world_size > 1:  # DDP: same start on every rank, gradients averaged in backward
        model = DistributedDataParallel(
            batchnorm_across_ranks(model), device_ids=[device] if device.type == "cuda" else None
        )
    return encode_pairs(data, tokenizer), tokenizer, model


def _summary(config: RunConfig, log: _RankLog, model, world_size, device) -> dict:
    seconds = time.perf_counter() - log.start
    timed_pairs = max(len(log.losses) - 1, 1) * config.batch_size * world_size
    return {
        "world_size": world_size,
        "backend": choose_backend(device) if world_size > 1 else "none",
        "device": str(device),
        "global_batch": config.batch_size * world_size,
        "losses": log.losses,
        "final_loss": log.losses[-1],
        "pairs_per_second": timed_pairs / seconds,
        "param_checksum": sum(p.detach().double().sum().item() for p in model.parameters()),
        "config": asdict(config),
    }


def save_run(result: dict, model: torch.nn.Module, tokenizer: WordTokenizer, out: str) -> None:
    """Write ``result.json`` and ``model.pt`` (weights on the CPU and the vocabulary), each
    atomically: a reader never sees half a file."""
    folder, weights = Path(out), io.BytesIO()
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    torch.save({"model": state, "vocab": tokenizer.itos}, weights)
    atomic_write(folder / "model.pt", weights.getvalue())
    atomic_write(folder / "result.json", json.dumps(result, indent=2))
