"""What the trainer scores on the validation split, and what that costs.

During training: the first ``prefix_events`` events of *every* validation file, streamed from the
zero state as the app runs the model (``training.evaluate_lib.stream_nll`` on the prefixes). All
pieces and performers are in it, and a pass costs a few seconds on a 2-core CPU instead of a
minute or two; ``best.pt`` is chosen on it. At the end of the run: the whole files once (the
full-stream NLL of ``training.evaluate``). Each score carries its ``scope`` (what was scored), which
the checkpoint and the ONNX metadata record.

Controls of a conditioned model are computed on the whole file and then cut, so the look-ahead at
the end of a prefix still sees the music after it. A model with the no-control flag is also scored
with the "no control" vector at every input (``free``: its unconditioned NLL).

A model trained with the grammar-masked loss is also scored under the grammar's renormalized
distribution (``perfjam.codec.grammar``; ``grammar_nll``), and chosen on that score: its plain
softmax was never trained on the excluded events.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from perfjam.codec.events import vocab_by_name
from perfjam.controls import CONTROL_SIZE, controls_for_events, no_control_vector
from training.model import PerformanceRNN
from training.prepare import load_prepared, split_files

SPLIT = "validation"
EVAL_BATCH_FILES = 96  # every ASAP validation file (83) in one batch: one sequential pass


@dataclass(frozen=True)
class Score:
    nll: float  # mean nats per scored event, full softmax
    grammar_nll: float | None  # the same under the grammar (renormalized), when asked for
    events: int
    seconds: float
    scope: dict  # what was scored (recorded in checkpoints and ONNX metadata)

    @property
    def selection(self) -> float:
        """The score a run is judged on: the grammar NLL when there is one."""
        return self.nll if self.grammar_nll is None else self.grammar_nll


class ValidationSet:
    def __init__(self, files: list[np.ndarray], control_size: int, vocab_name: str) -> None:
        self.files = [np.asarray(f) for f in files]
        self.control_size = control_size
        vocab = vocab_by_name(vocab_name)
        self.controls = None
        if control_size:
            self.controls = [controls_for_events(f, vocab, control_size) for f in self.files]

    @classmethod
    def load(cls, data_dir: str, vocab_name: str, control_size: int) -> ValidationSet:
        return cls(split_files(*load_prepared(data_dir, SPLIT, vocab_name)), control_size, vocab_name)

    @property
    def longest(self) -> int:
        return max((len(f) for f in self.files), default=0)

    def scored_events(self, prefix_events: int = 0) -> int:
        """Events a pass scores (each file's first event primes the model and is not scored)."""
        return sum(max(0, (min(len(f), prefix_events) if prefix_events else len(f)) - 1) for f in self.files)

    def scope(self, prefix_events: int = 0, free: bool = False, grammar: bool = False) -> dict:
        """What a pass scores."""
        return {
            "split": SPLIT,
            "files": len(self.files),
            "events_per_file": prefix_events if prefix_events and self.longest > prefix_events else "all",
            "events": self.scored_events(prefix_events),
            "controls": ("none" if self.controls is None else "no-control" if free else "data"),
            "distribution": "plain + grammar-renormalized" if grammar else "plain",
        }

    def score(self, model: PerformanceRNN, device: torch.device, prefix_events: int = 0,
              free: bool = False, grammar: bool = False) -> Score:
        """NLL of the first ``prefix_events`` of every file (0: whole files); ``free``: with the
        no-control vector instead of the data's controls; ``grammar``: also renormalized over
        the events the grammar allows."""
        cut = (lambda a: a[:prefix_events]) if prefix_events else (lambda a: a)
        files = [cut(f) for f in self.files]
        controls = None
        if self.controls is not None:
            if free:
                controls = [np.tile(no_control_vector(self.control_size), (len(f), 1)) for f in files]
            else:
                controls = [cut(c) for c in self.controls]
        t0 = time.perf_counter()
        grammar_nll = None
        if grammar:
            from perfjam.codec.grammar import RENORMALIZE
            from training.evaluate_lib import stream_scores

            scores = stream_scores(model, files, device, controls, grammar_modes=(RENORMALIZE,),
                                   batch_files=EVAL_BATCH_FILES)
            nll, grammar_nll, events = scores.nll, scores.grammar_nll[RENORMALIZE], scores.events
        else:
            from training.evaluate_lib import stream_nll

            nll, events = stream_nll(model, files, device, controls, batch_files=EVAL_BATCH_FILES)
        scope = {**self.scope(prefix_events, free, grammar), "events": events}
        return Score(nll, grammar_nll, events, time.perf_counter() - t0, scope)

    def full_pass_estimate_s(self, prefix: Score, prefix_events: int) -> float:
        """The cost of a whole-file pass from a timed prefix pass. All files run as one batch, so a
        pass costs about one batched LSTM step per event of the longest file (a step costs little
        less as files end and the batch shrinks): the length ratio, plus 10%. Measured on ASAP
        validation, 2x512, 2 threads: prefix 1024 14.3 s, whole files 372 s (ratio 26; lengths 28.5,
        events 13.4)."""
        if not prefix_events:
            return prefix.seconds
        return 1.1 * prefix.seconds * self.longest / max(1, min(self.longest, prefix_events))


def has_no_control_flag(control_size: int) -> bool:
    return control_size == CONTROL_SIZE


def describe(scope: dict) -> str:
    """One line for the ONNX metadata and the console."""
    per_file = scope["events_per_file"]
    what = "whole files" if per_file == "all" else f"first {per_file} events of each file"
    return (f"{scope['split']}: {what} ({scope['files']} files, {scope['events']:,} events scored), "
            f"controls {scope['controls']}, {scope['distribution']} NLL")
