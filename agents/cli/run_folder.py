"""A ``hptune train`` run folder: ``config.json``, ``metrics.csv`` (and TensorBoard when installed), checkpoints."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from agents.checkpoint import atomic_write, remove_stale_temporaries
from hpenv.extras import installed

__all__ = ["RunFolder"]


class RunFolder:
    """config.json, metrics.csv (+ TensorBoard when installed), checkpoints/, plots, summary."""

    def __init__(self, path: Path):
        self.path = path
        self.ckpt_dir = path / "checkpoints"
        self.ckpt_dir.mkdir(parents=True, exist_ok=True)
        for folder in (self.path, self.ckpt_dir):  # what a run killed mid-write left behind
            remove_stale_temporaries(folder)
        self._tb = None
        # TensorBoard is optional by design, and silent: without the extra, metrics.csv holds everything
        if installed("tensorboard"):
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(str(path / "tensorboard"))

    def write_json(self, name: str, data: dict) -> None:
        atomic_write(self.path / name, json.dumps(data, indent=2, default=str))

    def write_metrics(self, history: list[dict]) -> None:
        """Rewrite metrics.csv from the whole history (kept in the checkpoint, so resume stays consistent)."""
        if not history:
            return
        keys = sorted({k for row in history for k in row})
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=keys)
        writer.writeheader()
        writer.writerows(history)
        atomic_write(self.path / "metrics.csv", text.getvalue())
        if self._tb is not None:
            row = history[-1]
            for k, v in row.items():
                if isinstance(v, (int, float)):
                    self._tb.add_scalar(k, v, int(row.get("time/episodes", len(history))))
            self._tb.flush()
