"""Step 3, optimisation: minimise the loss by gradient descent, one readable loop.

- ``loop.py``: ``fit`` and ``TrainConfig`` -- epochs of steps, each a short list of named parts
  (forward and backward, clipping, the optimiser step, the schedule, the temperature clamp);
- ``hooks.py``: the loss ``fit`` calls on a batch, ``loss_fn(model, batch)``;
- ``optim.py``: SGD, Adam and AdamW with sensible weight decay, warmup and schedules, and the
  learning-rate range test;
- ``accumulate.py``: gradient accumulation, exact for contrastive losses (GradCache);
- ``checkpoint.py``: checkpoints that resume a run exactly;
- ``history.py``: what a run measured, callbacks and early stopping;
- ``recipes.py``: ready-made uses of ``fit`` the lessons share, and evaluating over a loader;
- ``surfaces.py``: toy loss surfaces to watch an optimiser walk.

Every name is re-exported here: ``xm.train.fit``, ``xm.train.make_optimizer``, ...
Distributed training across processes lives in ``xmlab/distributed/`` and reuses this loop.

Explained in: notebooks/00_welcome.ipynb and notebooks/04_optimization.ipynb
"""

from xmlab.data.loaders import move_to
from xmlab.encoders.dual import clamp_temperature
from xmlab.train import accumulate, checkpoint, history, hooks, loop, optim, recipes, surfaces
from xmlab.train.accumulate import PairLoss, cached_backward, naive_backward, split_batch
from xmlab.train.checkpoint import (
    FORMAT,
    CheckpointError,
    check_model_fits,
    load_checkpoint,
    read_checkpoint,
    restore,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from xmlab.train.history import Callback, History, early_stop
from xmlab.train.hooks import (
    LossFn,
    classification_loss,
    contrastive_loss,
    hard_negative_loss,
    make_contrastive_loss,
    multitask_loss,
)
from xmlab.train.loop import PRECISIONS, TrainConfig, evaluate, fit, train_one_epoch, train_step
from xmlab.train.optim import (
    OPTIMIZERS,
    SCHEDULES,
    lr_factor,
    lr_range_test,
    make_optimizer,
    make_scheduler,
    param_groups,
    schedule_curve,
)
from xmlab.train.recipes import (
    embed_pairs,
    fit_tensors,
    mean_loss,
    train_and_score,
    train_classifier,
)
from xmlab.train.surfaces import descend, ravine, rosenbrock

__all__ = [
    "FORMAT",
    "OPTIMIZERS",
    "PRECISIONS",
    "SCHEDULES",
    "Callback",
    "CheckpointError",
    "History",
    "LossFn",
    "PairLoss",
    "TrainConfig",
    "accumulate",
    "cached_backward",
    "check_model_fits",
    "checkpoint",
    "clamp_temperature",
    "classification_loss",
    "contrastive_loss",
    "descend",
    "early_stop",
    "embed_pairs",
    "evaluate",
    "fit",
    "fit_tensors",
    "history",
    "hard_negative_loss",
    "hooks",
    "load_checkpoint",
    "loop",
    "lr_factor",
    "lr_range_test",
    "make_contrastive_loss",
    "make_optimizer",
    "make_scheduler",
    "mean_loss",
    "move_to",
    "multitask_loss",
    "naive_backward",
    "optim",
    "param_groups",
    "ravine",
    "read_checkpoint",
    "recipes",
    "restore",
    "rng_state",
    "rosenbrock",
    "save_checkpoint",
    "schedule_curve",
    "set_rng_state",
    "split_batch",
    "surfaces",
    "train_and_score",
    "train_classifier",
    "train_one_epoch",
    "train_step",
]
