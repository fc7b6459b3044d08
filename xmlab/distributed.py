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

Explained in: notebooks/07_scaling_out.ipynb
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import BatchSampler, DistributedSampler

from xmlab import losses
from xmlab.data import encode_pairs, make_shapes
from xmlab.encoders import shapes_dual_encoder
from xmlab.preprocess import WordTokenizer
from xmlab.utils import get_device, seed_everything

# ----------------------------------------------------------------------------- the loss


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


# ----------------------------------------------------------------------------- process group


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
    getattr(model, "module", model).clamp_logit_scale()
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


# ----------------------------------------------------------------------------- launching


def build_parser() -> argparse.ArgumentParser:
    """Command-line options, one per :class:`RunConfig` field."""
    parser = argparse.ArgumentParser(
        prog="python -m xmlab.distributed",
        description="Train a Shapes dual encoder (torchrun-ready).",
    )
    for f in fields(RunConfig):
        flag, help_text = "--" + f.name.replace("_", "-"), f.metadata["help"]
        if isinstance(f.default, bool):
            parser.add_argument(
                flag, action=argparse.BooleanOptionalAction, default=f.default, help=help_text
            )
        else:
            parser.add_argument(flag, type=type(f.default), default=f.default, help=help_text)
    return parser


def to_args(config: RunConfig) -> list[str]:
    """The command-line options that reproduce ``config`` (the inverse of the parser)."""
    args = []
    for f in fields(RunConfig):
        value, flag = getattr(config, f.name), f.name.replace("_", "-")
        args += (
            [f"--{flag}" if value else f"--no-{flag}"]
            if isinstance(value, bool)
            else [f"--{flag}", str(value)]
        )
    return args


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun_command(config: RunConfig, *, nproc: int = 2) -> list[str]:
    """``python -m torch.distributed.run`` (torchrun) on one machine, for ``nproc`` processes."""
    return [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={nproc}",
            "--master_addr=127.0.0.1", f"--master_port={free_port()}",
            "-m", "xmlab.distributed", *to_args(config)]  # fmt: skip


def launch(config: RunConfig, *, nproc: int = 2, threads: int = 1, timeout: float = 600) -> dict:
    """Run ``config`` with torchrun on ``nproc`` local processes and read rank 0's results.

    Args:
        config: the run; ``config.out`` must name the folder for ``result.json``.
        nproc: processes (one per GPU on a CUDA machine, else CPU processes with gloo).
        threads: CPU threads per process (``OMP_NUM_THREADS``); processes x threads <= cores.
        timeout: seconds before the run is stopped.
    """
    if not config.out:
        raise ValueError("launch needs config.out: the folder where rank 0 writes result.json")
    result_file = Path(config.out) / "result.json"
    result_file.unlink(missing_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    proc = subprocess.run(torchrun_command(config, nproc=nproc), capture_output=True, text=True,
                          timeout=timeout, env=env)  # fmt: skip
    if proc.returncode != 0 or not result_file.exists():
        raise RuntimeError(
            f"torchrun exited with status {proc.returncode}; the end of its "
            f"output:\n{(proc.stdout + proc.stderr)[-3000:]}"
        )
    return {**json.loads(result_file.read_text(encoding="utf-8")), "log": proc.stdout}


def main(argv: list[str] | None = None) -> dict:
    """``torchrun --nproc_per_node=N -m xmlab.distributed [options]``; see ``--help``."""
    return train(RunConfig(**vars(build_parser().parse_args(argv))))


if __name__ == "__main__":
    main()
