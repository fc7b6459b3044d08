"""Joining the process group and one distributed training run on Shapes.

Every rank builds the same data and initial weights from the seed, draws its shard of each
global batch, and steps a ``DistributedDataParallel`` model with the gathered CLIP loss; rank 0
writes the results.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import BatchSampler, DistributedSampler

from xmlab.data import encode_pairs, make_shapes
from xmlab.distributed.batchnorm import batchnorm_across_ranks
from xmlab.distributed.loss import distributed_clip_loss
from xmlab.encoders import clamp_temperature, shapes_dual_encoder
from xmlab.preprocess import WordTokenizer
from xmlab.utils import get_device, seed_everything


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
class RunConfig:
    """One distributed training run on Shapes; every field is also a command-line option."""

    steps: int = field(default=20, metadata={"help": "optimiser steps"})
    batch_size: int = field(default=32, metadata={"help": "pairs per process and step"})
    pairs: int = field(default=1024, metadata={"help": "Shapes training pairs"})
    lr: float = field(default=1e-3, metadata={"help": "learning rate of AdamW"})
    seed: int = field(default=0, metadata={"help": "seeds data, order and initial weights"})
    width: int = field(default=64, metadata={"help": "width of both encoders"})
    embed_dim: int = field(default=32, metadata={"help": "size of the shared space"})
    gather: bool = field(default=True, metadata={"help": "score against every rank's pairs"})
    precision: str = field(default="fp32", metadata={"help": "fp32, or bf16 autocast"})
    dtype: str = field(default="float32", metadata={"help": "float32, or float64 for checks"})
    device: str = field(default="auto", metadata={"help": "auto, cpu, cuda or mps"})
    out: str = field(default="", metadata={"help": "folder for result.json and model.pt"})
    log_every: int = field(default=10, metadata={"help": "print the loss every this many steps"})


def _check_config(config: RunConfig, world_size: int) -> None:
    if config.steps < 1 or config.batch_size < 1:
        raise ValueError(
            f"steps and batch_size must be at least 1, got {config.steps} and {config.batch_size}"
        )
    if config.pairs < config.batch_size * world_size:
        raise ValueError(
            f"{config.pairs} pairs cannot fill one step of {world_size} processes x "
            f"{config.batch_size} pairs: raise --pairs or lower --batch-size"
        )
    if config.precision not in ("fp32", "bf16") or config.dtype not in ("float32", "float64"):
        raise ValueError(
            f"precision must be fp32 or bf16 and dtype float32 or float64, got "
            f"{config.precision!r} and {config.dtype!r}"
        )
    if config.precision == "bf16" and config.dtype == "float64":
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


def _step(model, batch: dict, optimizer, config: RunConfig, device: torch.device) -> torch.Tensor:
    """One optimiser step; returns this rank's (detached) loss."""
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=config.precision == "bf16"):
        out = model(batch["image"], batch["input_ids"], batch["attention_mask"])
    img, txt = out["image_emb"], out["text_emb"]
    if config.precision == "bf16":  # the softmax over N columns wants float32
        img, txt = img.float(), txt.float()
    loss = distributed_clip_loss(img, txt, logit_scale=out["logit_scale"], gather=config.gather)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()  # DDP averages the parameter gradients over ranks here
    optimizer.step()
    clamp_temperature(getattr(model, "module", model))
    return loss.detach()


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
        _check_config(config, world_size)
        seed_everything(config.seed)  # the same data and initial weights on every rank
        tensors, tokenizer, model = _build(config, world_size, device)
        step_losses, seconds = _loop(model, tensors, config, rank, world_size, device)
        result = _summary(config, step_losses, seconds, model, world_size, device)
        if rank == 0 and config.out:
            save_run(result, getattr(model, "module", model), tokenizer, config.out)
        if world_size > 1:
            dist.barrier()  # no rank closes its connections while rank 0 still writes
        return result
    finally:
        if world_size > 1:
            dist.destroy_process_group()


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


def _loop(model, tensors: dict, config: RunConfig, rank: int, world_size: int, device):
    """``config.steps`` optimiser steps; returns the losses and the seconds after step 1."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr)
    batches = shard_batches(config.pairs, batch_size=config.batch_size, rank=rank,
                            world_size=world_size, seed=config.seed)  # fmt: skip
    step_losses, start = [], time.perf_counter()
    for step, idx in zip(range(1, config.steps + 1), batches):
        start = time.perf_counter() if step == 2 else start  # step 1 pays for warm-up
        batch = {k: v[idx].to(device) for k, v in tensors.items()}
        batch["image"] = batch["image"].to(getattr(torch, config.dtype))
        loss = _step(model, batch, optimizer, config, device)
        step_losses.append(_mean_over_ranks(loss, world_size))
        if rank == 0 and config.log_every and step % config.log_every == 0:
            print(f"step {step}/{config.steps}  loss {step_losses[-1]:.4f}", flush=True)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return step_losses, time.perf_counter() - start


def _summary(config: RunConfig, step_losses, seconds, model, world_size, device) -> dict:
    timed_pairs = max(config.steps - 1, 1) * config.batch_size * world_size
    return {
        "world_size": world_size,
        "backend": choose_backend(device) if world_size > 1 else "none",
        "device": str(device),
        "global_batch": config.batch_size * world_size,
        "losses": step_losses,
        "final_loss": step_losses[-1],
        "pairs_per_second": timed_pairs / seconds,
        "param_checksum": sum(p.detach().double().sum().item() for p in model.parameters()),
        "config": asdict(config),
    }


def save_run(result: dict, model: torch.nn.Module, tokenizer: WordTokenizer, out: str) -> None:
    """Write ``result.json`` and ``model.pt`` (weights on the CPU and the vocabulary)."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    torch.save({"model": state, "vocab": tokenizer.itos}, folder / "model.pt")
    (folder / "result.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
