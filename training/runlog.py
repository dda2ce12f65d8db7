"""The run's log: ``OUT/log.csv`` and TensorBoard in ``OUT/tb``, written by rank 0 only.

``val_nll`` is the score ``best.pt`` is chosen on (the validation prefix of
``training.validation``); ``val_nll_free`` the same with the no-control vector (models with the
flag); ``val_nll_full`` the whole-file score, at the end of the run.
"""

from __future__ import annotations

import csv
from pathlib import Path

LOG_COLUMNS = ("step", "tokens", "lr", "progress", "train_loss", "val_nll", "val_nll_free", "val_nll_full",
               "tokens_per_s", "elapsed_s", "grammar_forced")
SCALARS = ("lr", "progress", "train_loss", "val_nll", "val_nll_free", "val_nll_full", "tokens_per_s")


class Logger:
    def __init__(self, out: Path, resume_step: int | None) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.path = out / "log.csv"
        rows = []
        if resume_step is not None and self.path.exists():  # drop rows after the checkpoint
            with open(self.path, newline="") as f:
                rows = [r for r in csv.DictReader(f) if int(r["step"]) <= resume_step]
        with open(self.path, "w", newline="") as f:
            writer = csv.DictWriter(f, LOG_COLUMNS, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)
        self.tb = SummaryWriter(str(out / "tb"), purge_step=None if resume_step is None else resume_step + 1)

    def log(self, row: dict) -> None:
        with open(self.path, "a", newline="") as f:
            csv.DictWriter(f, LOG_COLUMNS).writerow({k: row.get(k, "") for k in LOG_COLUMNS})
        for key in SCALARS:
            if row.get(key) not in (None, ""):
                self.tb.add_scalar(key, row[key], row["step"])
        self.tb.flush()

    def close(self) -> None:
        self.tb.close()
