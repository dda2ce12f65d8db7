"""The learning-rate schedule and the budgets that end a run (steps, tokens, wall time).

A run has up to three budgets: ``max_steps``, ``max_tokens`` (training tokens, all ranks) and
``max_s`` (wall time of the run, summed over its invocations: the checkpoint carries
``elapsed_s``). Its *progress* is the largest of the used fractions, so the cosine follows
whichever budget ends first and reaches ``min_ratio`` exactly when the run ends:

    progress = max((step - warmup) / (max_steps - warmup), tokens / max_tokens, elapsed / train_s)

where ``train_s = max_s - reserve_s`` leaves time for the final evaluation and checkpoint
(``reserve_s``, estimated at start). The factor is the linear warm-up over ``warmup_steps``
times the cosine from 1 to ``min_ratio`` over progress 0..1. With only ``max_steps`` this is
the schedule the trainer always had, step for step. A steps or tokens budget gives a schedule
that is a function of the batches alone, so a resumed run repeats it bit for bit; a time budget
depends on the clock (the same wall time, not the same steps).

A session limit (``--session-minutes``, ``--run-steps``) only ends an invocation: the schedule
ignores it, and ``--resume`` continues.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Schedule:
    lr: float
    warmup_steps: int
    min_ratio: float
    max_steps: int
    max_tokens: int = 0  # 0: no token budget
    max_s: float = 0.0  # 0: no time budget (wall seconds over the whole run)
    reserve_s: float = 0.0  # of max_s, kept for the final evaluation and save

    @property
    def train_s(self) -> float:
        return max(1.0, self.max_s - self.reserve_s)

    def progress(self, step: int, tokens: int, elapsed_s: float) -> float:
        """0..1: the largest fraction used of any budget."""
        fractions = [max(0, step - self.warmup_steps) / max(1, self.max_steps - self.warmup_steps)]
        if self.max_tokens > 0:
            fractions.append(tokens / self.max_tokens)
        if self.max_s > 0:
            fractions.append(elapsed_s / self.train_s)
        return min(1.0, max(fractions))

    def factor(self, step: int, progress: float) -> float:
        warmup = min(1.0, (step + 1) / max(1, self.warmup_steps))
        cosine = self.min_ratio + (1.0 - self.min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))
        return warmup * cosine

    def lr_at(self, step: int, tokens: int, elapsed_s: float) -> float:
        return self.lr * self.factor(step, self.progress(step, tokens, elapsed_s))

    def budget_over(self, step: int, tokens: int) -> str:
        """Why the run is complete by steps or tokens ('' while it is not): the same on every rank."""
        if step >= self.max_steps:
            return f"max_steps {self.max_steps}"
        if self.max_tokens > 0 and tokens >= self.max_tokens:
            return f"max_tokens {self.max_tokens:,}"
        return ""

    def time_over(self, elapsed_s: float, next_s: float) -> str:
        """Why the run is complete by time before a step of ``next_s`` ('' while it is not)."""
        if self.max_s > 0 and elapsed_s + next_s > self.train_s:
            return f"time budget {self.max_s / 60:g} min (kept {self.reserve_s:.0f} s for the final eval)"
        return ""

    def state(self, step: int, tokens: int, elapsed_s: float) -> dict:
        """What the checkpoint records about the schedule (self-describing, no hidden state)."""
        progress = self.progress(step, tokens, elapsed_s)
        return {"kind": "warmup-cosine", "progress": progress, "lr": self.lr * self.factor(step, progress),
                "base_lr": self.lr, "warmup_steps": self.warmup_steps, "min_lr_ratio": self.min_ratio,
                "max_steps": self.max_steps, "max_tokens": self.max_tokens, "max_s": self.max_s,
                "reserve_s": self.reserve_s}


@dataclass(frozen=True)
class Session:
    """Limits of one invocation: it stops in time to evaluate and save, the run goes on."""

    max_s: float = 0.0  # 0: none (wall seconds of this invocation)
    run_steps: int = 0  # 0: none
    reserve_s: float = 0.0  # a prefix evaluation and a save

    def over(self, steps_done: int, session_s: float, next_step_s: float) -> str:
        if self.run_steps > 0 and steps_done >= self.run_steps:
            return f"run_steps {self.run_steps}"
        if self.max_s > 0 and session_s + next_step_s + self.reserve_s > self.max_s:
            return f"session time {self.max_s / 60:g} min"
        return ""
