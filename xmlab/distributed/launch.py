"""The command line of a training run, and launching it with ``torchrun`` from Python."""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
from dataclasses import Field, fields
from pathlib import Path

from xmlab.distributed.training import RunConfig, train

TRAIN_OPTIONS = {  # the TrainConfig fields a run takes from the command line, with their help
    "epochs": "passes of --steps optimiser steps",
    "lr": "learning rate",
    "optimizer": "sgd, adam or adamw",
    "weight_decay": "decay of weight matrices",
    "precision": "fp32, or bf16 autocast",
    "device": "auto, cpu, cuda or mps",
}


def options() -> list[tuple[Field, str]]:
    """The :class:`RunConfig` fields that are command-line options, with their help texts."""
    return [
        (f, f.metadata.get("help") or TRAIN_OPTIONS[f.name])
        for f in fields(RunConfig)
        if "help" in f.metadata or f.name in TRAIN_OPTIONS
    ]


def build_parser() -> argparse.ArgumentParser:
    """Command-line options, one per field of :func:`options`."""
    parser = argparse.ArgumentParser(
        prog="python -m xmlab.distributed",
        description="Train a Shapes dual encoder (torchrun-ready).",
    )
    for f, help_text in options():
        flag = "--" + f.name.replace("_", "-")
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
    for f, _ in options():
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
