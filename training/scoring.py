"""What evaluation scores, and how: event sequences from MIDI files or prepared data, and the
full-stream NLL through ONNX (``perfjam.model``, the app's path, one event at a time) or torch
(``training.evaluate_lib.stream_scores``, batched), plain and under the event grammar.

Shared by ``training.evaluate`` and ``training.export_onnx`` (the int8 cost check); imports
neither.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from perfjam.codec.events import EventType, Vocab
from perfjam.codec.grammar import grammar_log_probs, sequence_masks
from perfjam.codec.midifile import encode_midi
from perfjam.controls import controls_for_events, no_control_vector
from perfjam.model import PerformanceModel
from training.model import PerformanceRNN

GRAMMAR_BLOCK = 4096  # positions scored at once under the grammar (bounds the float64 temporaries)


@dataclass(frozen=True)
class AppSampling:
    """How the app samples by default: its distribution at temperature 1 (the grammar; ``memory``:
    with the motif memory, ``training.motif``, measured and not in the app) and how it reshapes and
    truncates it (``perfjam.live.config.EngineConfig``)."""

    temperature: float = 1.0
    top_p: float | None = None
    min_p: float | None = None
    memory: bool = False
    note_min_p: float | None = None

    @classmethod
    def app_default(cls) -> AppSampling:
        from perfjam.live.config import EngineConfig

        cfg = EngineConfig()
        return cls(cfg.temperature, cfg.top_p, cfg.min_p, False, cfg.note_min_p)


@dataclass(frozen=True)
class NllResult:
    total_nats: float
    events: int  # scored events (every event of a file but its first)
    grammar_nats: dict[str, float] = field(default_factory=dict)  # grammar mode -> total nats
    violations: int = 0  # scored events the grammar excludes (when grammar modes were scored)
    app_nats: float | None = None  # under the app's distribution (AppSampling), when scored
    truncated: int = 0  # scored events the app's truncation would never sample

    @property
    def mean(self) -> float:
        return self.total_nats / self.events if self.events else float("nan")

    def grammar_mean(self, mode: str) -> float:
        return self.grammar_nats[mode] / self.events if self.events else float("nan")

    @property
    def app_mean(self) -> float | None:
        return None if self.app_nats is None or not self.events else self.app_nats / self.events

    @property
    def truncated_fraction(self) -> float | None:
        return None if self.app_nats is None or not self.events else self.truncated / self.events


def input_controls(events: np.ndarray, vocab: Vocab) -> np.ndarray:
    """Controls for the inputs ``events[:-1]``: input i carries the control of the event it
    predicts (i + 1), as in training (``training.dataset``) and Magenta."""
    return controls_for_events(events, vocab)[1:]




def list_midi_files(midi_dir: Path, split_csv: Path | None = None, split: str | None = None) -> list[Path]:
    """MIDI files under ``midi_dir`` (sorted), optionally those of one split of a split CSV."""
    from training.prepare import find_midi_files, plan_sources

    if split_csv is None:
        if split is not None:
            raise ValueError("--split needs --split-csv (or a prepared --data directory)")
        return [midi_dir / f for f in find_midi_files(midi_dir)]
    sources, _ = plan_sources(midi_dir, split_csv)
    return [midi_dir / s.file for s in sources if split is None or s.split == split]


def load_eval_sequences(
    vocab: Vocab,
    midi_dir: Path | None = None,
    split_csv: Path | None = None,
    split: str | None = None,
    data_dir: Path | None = None,
    limit: int | None = None,
    max_events: int | None = None,
) -> list[np.ndarray]:
    """Event arrays (int64) from MIDI files or a prepared data directory, each cut to ``max_events``."""
    if data_dir is not None:
        from training.prepare import load_prepared, split_files

        tokens, offsets = load_prepared(data_dir, split or "test", vocab.name)
        arrays = split_files(tokens, offsets)[:limit]
    elif midi_dir is not None:
        arrays = []
        for path in list_midi_files(midi_dir, split_csv, split)[:limit]:
            try:
                arrays.append(np.asarray(encode_midi(path, vocab), np.int64))
            except Exception as exc:  # a corrupt file is reported and skipped, never a crash
                print(f"evaluate: skipping {path}: {type(exc).__name__}: {exc}", file=sys.stderr)
    else:
        raise ValueError("give a MIDI directory or a prepared data directory")
    return [np.asarray(a[:max_events], np.int64) for a in arrays if len(a) >= 2]




def free_controls(sequences: Sequence[np.ndarray], control_size: int) -> list[np.ndarray]:
    """The "no control" vector at every input of every file: a conditioned model playing freely."""
    vector = no_control_vector(control_size)
    return [np.broadcast_to(vector, (len(seq), control_size)) for seq in sequences]


def torch_nll(model: PerformanceRNN, sequences: Sequence[np.ndarray], batch_files: int = 16,
              grammar_modes: Sequence[str] = (), free: bool = False) -> NllResult:
    """Full-stream NLL with torch (``training.evaluate_lib.stream_scores``, shared with the trainer);
    ``free``: a conditioned model scored with the "no control" vector instead of the file's controls."""
    from training.evaluate_lib import stream_scores

    size = model.config.control_size
    controls = free_controls(sequences, size) if free and size else None
    s = stream_scores(model, sequences, "cpu", controls, grammar_modes=grammar_modes, batch_files=batch_files)

    def total(mean: float) -> float:
        return mean * s.events if s.events else 0.0

    return NllResult(total(s.nll), s.events, {m: total(v) for m, v in s.grammar_nll.items()}, s.violations)


def grammar_scores(logits: np.ndarray, seq: np.ndarray, vocab: Vocab,
                   modes: Sequence[str]) -> tuple[dict[str, float], int]:
    """Total grammar NLL per mode of ``seq[1:]`` given the logits [len - 1, V] that predict them,
    and the number of those events the grammar excludes (the file streams from the zero state)."""
    masks = sequence_masks(seq[None, :-1], vocab, known_start=True)[0]
    targets = seq[1:]
    rows = np.arange(len(targets))
    violations = int(np.count_nonzero(~masks[rows, targets]))
    totals = dict.fromkeys(modes, 0.0)
    for start in range(0, len(targets), GRAMMAR_BLOCK):
        block = slice(start, start + GRAMMAR_BLOCK)
        for mode in modes:
            log_q = grammar_log_probs(logits[block], masks[block], vocab, mode)
            totals[mode] -= float(log_q[rows[block] - start, targets[block]].sum())
    return totals, violations


def app_scores(logits: np.ndarray, seq: np.ndarray, vocab: Vocab, mode: str,
               app: AppSampling) -> tuple[float, int]:
    """Total NLL of ``seq[1:]`` (predicted by ``logits``) under the app's distribution
    (``perfjam.sampling.distribution``: the grammar in ``mode``, the motif memory hearing the
    file's NOTE_ONs), and how many of those events the app's reshaping and truncation
    (``perfjam.sampling.shape``) would never sample."""
    from perfjam.sampling import distribution, shape
    from training.motif import MotifMemory

    masks = sequence_masks(seq[None, :-1], vocab, known_start=True)[0]
    on0 = vocab.offsets[EventType.NOTE_ON]
    memory = MotifMemory() if app.memory else None
    truncates = app.temperature != 1.0 or app.min_p or app.note_min_p or (app.top_p is not None
                                                                          and app.top_p < 1.0)
    nats, truncated = 0.0, 0
    for i in range(len(seq) - 1):
        if memory is not None and on0 <= seq[i] < on0 + 128:
            memory.note_on(int(seq[i]) - on0)
        p = distribution(logits[i], masks[i], mode, memory=memory)
        target = int(seq[i + 1])
        nats -= float(np.log(p[target]))
        if truncates:
            truncated += shape(p, app.temperature, None, app.min_p, app.top_p, app.note_min_p)[target] == 0.0
    return nats, truncated


def onnx_nll(
    model: PerformanceModel,
    sequences: Sequence[np.ndarray],
    progress: Callable[[int], None] | None = None,
    grammar_modes: Sequence[str] = (),
    free: bool = False,
    app: AppSampling | None = None,
) -> NllResult:
    """Full-stream NLL through ``perfjam.model``, one event at a time (the app's path), and with
    ``grammar_modes`` the NLL under the grammar in each mode, with ``app`` under the app's
    distribution (``app_scores``; the grammar in the first mode); ``free``: see ``torch_nll``."""
    vocab = model.info.vocab
    total, count, violations = 0.0, 0, 0
    grammar_totals = dict.fromkeys(grammar_modes, 0.0)
    app_total, truncated = 0.0, 0
    for seq in sequences:
        seq = np.asarray(seq, np.int64)
        if len(seq) < 2:
            continue
        controls = None
        if model.info.has_controls:
            controls = (free_controls([seq], model.info.control_size)[0] if free
                        else input_controls(seq, vocab))
        model.reset()
        logits = np.empty((len(seq) - 1, vocab.size), np.float32)
        for i in range(len(seq) - 1):
            logits[i] = model.step(int(seq[i]), None if controls is None else controls[i])
        z = logits.astype(np.float64)
        peak = z.max(axis=1)
        lse = peak + np.log(np.exp(z - peak[:, None]).sum(axis=1))
        total += float((lse - z[np.arange(len(z)), seq[1:]]).sum())
        if grammar_modes:
            file_totals, file_violations = grammar_scores(z, seq, vocab, grammar_modes)
            violations += file_violations
            for mode, nats in file_totals.items():
                grammar_totals[mode] += nats
        if app is not None:
            app_mode = (*grammar_modes, model.info.grammar_mode)[0]
            file_nats, file_truncated = app_scores(z, seq, vocab, app_mode, app)
            app_total += file_nats
            truncated += file_truncated
        count += len(seq) - 1
        if progress is not None:
            progress(len(seq) - 1)
    return NllResult(total, count, grammar_totals, violations, app_total if app is not None else None,
                     truncated)
