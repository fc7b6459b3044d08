"""What a training run records, and who listens: ``History``, ``Callback``, early stopping.

``fit`` appends one row (a flat dict) per optimiser step and one per epoch to a ``History``,
which converts to a table (and plots through ``xm.viz.plot_history``); callbacks see each row
as it is made.

Explained in: notebooks/00_welcome.ipynb and notebooks/04_optimization.ipynb
"""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import nn


@dataclass
class History:
    """Everything ``fit`` measured: one row per step and one row per epoch."""

    steps: list[dict] = field(default_factory=list)  # {"step", "epoch", "loss", "lr", ...}
    epochs: list[dict] = field(default_factory=list)  # {"epoch", "loss", "seconds", **eval}
    stopped: str = ""  # why training ended before the last epoch ("": it did not)

    def __len__(self) -> int:
        return len(self.steps)

    def last(self, key: str = "loss") -> float:
        """The latest value of ``key`` in the epoch rows (or step rows when it is only there)."""
        for rows in (self.epochs, self.steps):
            for row in reversed(rows):
                if key in row:
                    return row[key]
        raise KeyError(f"{key!r} was never recorded; recorded keys: {sorted(self.keys())}")

    def keys(self) -> set[str]:
        return {k for rows in (self.steps, self.epochs) for row in rows for k in row}

    def column(self, key: str, *, per: str = "step") -> list:
        """Every recorded value of ``key``, ``per="step"`` or ``per="epoch"``."""
        return [row[key] for row in self._rows(per) if key in row]

    def to_rows(self, *, per: str = "epoch") -> list[dict]:
        """The rows as a table: every row gets every key (``None`` where it was not recorded),
        ready for ``pandas.DataFrame(rows)`` or ``csv.DictWriter``."""
        rows = self._rows(per)
        keys = list(dict.fromkeys(k for row in rows for k in row))
        return [{k: row.get(k) for k in keys} for row in rows]

    def _rows(self, per: str) -> list[dict]:
        if per not in ("step", "epoch"):
            raise ValueError(f"per must be 'step' or 'epoch', got {per!r}")
        return self.steps if per == "step" else self.epochs

    def plot(self, ax=None, *, key: str = "loss"):
        """Plot ``key`` per step (and per epoch when recorded there); returns the axes.

        A shortcut for ``xm.viz.plot_history(history, key=key)``, where the figure is drawn.
        """
        from xmlab.viz.training import plot_history  # plotting loads on first use only

        return plot_history(self, ax=ax, key=key)

    def state_dict(self) -> dict:
        return {"steps": self.steps, "epochs": self.epochs, "stopped": self.stopped}

    def load_state_dict(self, state: dict) -> None:
        self.steps, self.epochs = list(state["steps"]), list(state["epochs"])
        self.stopped = state.get("stopped", "")


class Callback:
    """Override the hooks you need; ``fit`` calls them with its live state."""

    def on_step(self, row: dict, model: nn.Module) -> None:
        """After every optimiser step, with the step's history row."""

    def on_epoch_end(self, row: dict, model: nn.Module) -> None:
        """After every epoch (and its evaluation), with the epoch's history row."""


def early_stop(history: History, monitor: str, patience: int) -> str:
    """Why to stop now, or ``""`` to go on: stop once ``patience`` epochs passed without a
    better ``monitor`` value (lower is better for names containing "loss", higher otherwise).

    The decision reads only the history, so it continues unchanged after resuming a run.
    """
    if monitor not in history.epochs[-1]:
        raise KeyError(
            f"monitor {monitor!r} is not in the epoch row {sorted(history.epochs[-1])}: "
            "return it from eval_fn or monitor one of these keys"
        )
    sign = -1.0 if "loss" in monitor else 1.0
    values = [sign * row[monitor] for row in history.epochs]
    best = values.index(max(values))  # the first epoch with the best value
    if len(values) - 1 - best < patience:
        return ""
    return (
        f"early stopping: {monitor} did not improve for {patience} epochs "
        f"(best {sign * values[best]:.4g} at epoch {history.epochs[best]['epoch']})"
    )
