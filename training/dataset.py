"""Random training examples from prepared data, augmented on the fly with vectorized numpy.

An example is one row of ``seq_len + 1`` tokens (inputs are ``row[:-1]``, targets ``row[1:]``):

* ``example="events"`` (default): a fixed window of ``seq_len + 1`` events from a random start
  (no padding except in files shorter than that). Every position the LSTM computes is trained on.
* ``example="time"``: a 30-second segment. A start event is drawn uniformly over the split (so a
  file is picked in proportion to its length) among the events that still have a full window
  after them; the segment is augmented, then cut to the events that start within the first
  ``window_s`` seconds, then truncated to ``seq_len + 1`` tokens or padded (``lengths`` says how
  many tokens of the row are real; the loss ignores the rest). Measured on ASAP at seq_len 512:
  28% of the LSTM's positions are padding, which is why it is not the default.

Augmentation (``DataConfig.augment``), per example: transpose by a random whole number of semitones
in ``transpose_range`` (NOTE_ON/NOTE_OFF shifted; a pitch pushed out of 0..127 loses every on and
off), then time-stretch by a random factor in ``stretch_range``: every event's absolute step is
scaled and re-quantized (``floor(step * factor + 0.5)``) and the TIME_SHIFTs are re-emitted as the
codec does (100-step shifts, then the remainder). Stretching by 1.0 is exactly the identity. When
compressed (factor < 1) a one-step note (0.03% of ASAP notes) can collapse to zero length; its
NOTE_ON still comes before its NOTE_OFF, so nothing is left hanging.

Controls (``DataConfig.controls``): ``perfjam.controls.controls_for_events`` on the augmented
segment, computed before the cut so the look-ahead at the end of a row still sees the music
that follows. ``Batch.controls[:, t]`` describes event ``t``; the trainer feeds the control of
the *target* event with each input (as Magenta's conditioned Performance RNN does). A fraction
``no_control_fraction`` of the rows, drawn per example, get the "no control" vector instead
(``perfjam.controls.no_control_vector``: Magenta's optional conditioning).

Grammar masks (``DataConfig.grammar``): ``perfjam.codec.grammar.sequence_masks`` of each augmented
row, aligned with the targets (``Batch.masks[:, t]`` is the set allowed for ``row[t + 1]``), from a
known start for windows that begin a file, else an unknown one. A target the grammar excludes is
allowed anyway and counted (``Batch.grammar_forced``; 0 on encoder output).

Whole batches are built at once on flat "ragged" arrays (events + segment id), with no Python loop
over events. ``python -m training.dataset --data data/asap-v2`` measures the throughput.
"""

from __future__ import annotations

import argparse
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from perfjam.codec.events import (
    MAX_SHIFT_STEPS,
    NUM_PITCHES,
    STEPS_PER_SECOND,
    EventType,
    Vocab,
    vocab_by_name,
)
from perfjam.codec.grammar import sequence_masks
from perfjam.controls import CONTROL_SIZE, PITCH_WINDOW_S, controls_for_events, no_control_vector
from training.prepare import load_prepared


@dataclass(frozen=True)
class DataConfig:
    seq_len: int = 2048  # model inputs per row; a row holds seq_len + 1 tokens
    example: str = "events"  # "events": fixed seq_len + 1 event windows; "time": window_s-second segments
    window_s: float = 30.0
    augment: bool = True
    stretch_range: tuple[float, float] = (0.95, 1.05)
    transpose_range: tuple[int, int] = (-4, 4)  # inclusive
    controls: bool = False
    no_control_fraction: float = 0.0  # with controls: rows given the "no control" vector
    grammar: bool = False  # build Batch.masks

    def __post_init__(self) -> None:
        if self.example not in ("time", "events"):
            raise ValueError(f"example must be 'time' or 'events', not {self.example!r}")


@dataclass(frozen=True)
class Batch:
    tokens: np.ndarray  # [batch, seq_len + 1] int64, padded with 0 after `lengths`
    lengths: np.ndarray  # [batch] int64, real tokens per row
    controls: np.ndarray | None  # [batch, seq_len + 1, CONTROL_SIZE] float32, or None
    masks: np.ndarray | None = None  # [batch, seq_len, vocab] bool: allowed set of target t, or None
    grammar_forced: int = 0  # real targets the grammar excluded (allowed in `masks` anyway)

    @property
    def target_tokens(self) -> int:
        """Tokens scored by the loss (every real token after the first of its row)."""
        return int(np.maximum(self.lengths - 1, 0).sum())


# ----------------------------------------------------------------------------- ragged helpers
# A batch of segments is kept flat: `events` (int64) and `seg` (the segment of each event,
# non-decreasing), with `num_segs` segments, some possibly empty.


def shift_steps(events: np.ndarray, vocab: Vocab) -> np.ndarray:
    """The steps each event advances time by (TIME_SHIFT value, else 0)."""
    shift0 = vocab.offsets[EventType.TIME_SHIFT]
    is_shift = (events >= shift0) & (events < shift0 + MAX_SHIFT_STEPS)
    return np.where(is_shift, events - shift0 + 1, 0)


def segment_steps(
    events: np.ndarray, seg: np.ndarray, num_segs: int, vocab: Vocab
) -> tuple[np.ndarray, np.ndarray]:
    """(step at which each event happens, from its segment's start; total steps of each segment)."""
    shifts = shift_steps(events, vocab)
    step_after = np.cumsum(shifts)
    step_at = step_after - shifts
    first = np.searchsorted(seg, np.arange(num_segs))  # first event of each segment (if any)
    base = step_at[np.minimum(first, len(events) - 1)] if len(events) else np.zeros(num_segs, np.int64)
    totals = np.bincount(seg, weights=shifts, minlength=num_segs).astype(np.int64)
    return step_at - base[seg], totals


def transpose(events: np.ndarray, seg: np.ndarray, semitones: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Shift NOTE_ON/NOTE_OFF of segment s by semitones[s]; notes pushed out of range are dropped."""
    is_note = events < 2 * NUM_PITCHES  # NOTE_ON 0..127 then NOTE_OFF 128..255 in both vocabularies
    pitch = events % NUM_PITCHES
    moved = pitch + semitones[seg]
    keep = ~is_note | ((moved >= 0) & (moved < NUM_PITCHES))
    events = np.where(is_note, events - pitch + moved, events)
    return events[keep], seg[keep]


def stretch(
    events: np.ndarray, seg: np.ndarray, num_segs: int, factors: np.ndarray, vocab: Vocab
) -> tuple[np.ndarray, np.ndarray]:
    """Scale every event's time by factors[seg], re-quantize, and re-emit canonical TIME_SHIFTs."""
    step_at, totals = segment_steps(events, seg, num_segs, vocab)
    keep = shift_steps(events, vocab) == 0
    # The non-shift events plus one end marker (-1) per segment carrying the segment's total time.
    marks = np.concatenate([events[keep], np.full(num_segs, -1)])
    marks_seg = np.concatenate([seg[keep], np.arange(num_segs)])
    raw_steps = np.concatenate([step_at[keep], totals])
    order = np.argsort(marks_seg, kind="stable")  # end markers go after their segment's events
    marks, marks_seg, raw_steps = marks[order], marks_seg[order], raw_steps[order]
    steps = np.floor(raw_steps * factors[marks_seg] + 0.5).astype(np.int64)

    # Gap before each mark: from the previous mark of the same segment (or the segment start).
    new_seg = np.ones(len(marks), bool)
    new_seg[1:] = marks_seg[1:] != marks_seg[:-1]
    gaps = steps - np.where(new_seg, 0, np.roll(steps, 1))
    num_shifts = -(-gaps // MAX_SHIFT_STEPS)  # ceil: full 100-step shifts, then the remainder
    mark_pos = np.cumsum(num_shifts + 1) - 1  # where each mark lands in the output

    shift0 = vocab.offsets[EventType.TIME_SHIFT]
    out = np.full(mark_pos[-1] + 1 if len(marks) else 0, shift0 + MAX_SHIFT_STEPS - 1, np.int64)
    out[mark_pos] = marks
    has_shift = num_shifts > 0
    remainder = gaps - MAX_SHIFT_STEPS * (num_shifts - 1)
    out[mark_pos[has_shift] - 1] = shift0 + remainder[has_shift] - 1
    out_seg = np.repeat(marks_seg, num_shifts + 1)
    real = out >= 0
    return out[real], out_seg[real]


def augment(events: np.ndarray, vocab: Vocab, factor: float = 1.0, semitones: int = 0) -> np.ndarray:
    """One event sequence transposed, then stretched (the batch path on a single segment)."""
    events = np.asarray(events, np.int64)
    seg = np.zeros(len(events), np.int64)
    events, seg = transpose(events, seg, np.array([semitones]))
    events, _ = stretch(events, seg, 1, np.array([factor], np.float64), vocab)
    return events


def rows_from_ragged(
    events: np.ndarray, seg: np.ndarray, num_segs: int, width: int
) -> tuple[np.ndarray, np.ndarray]:
    """A ragged batch as a zero-padded [num_segs, width] array (rows cut at width), and row lengths."""
    first = np.searchsorted(seg, np.arange(num_segs))
    pos = np.arange(len(events)) - first[seg]
    kept = pos < width
    rows = np.zeros((num_segs, width), np.int64)
    rows[seg[kept], pos[kept]] = events[kept]
    lengths = np.minimum(np.bincount(seg, minlength=num_segs), width)
    return rows, lengths


def gather_windows(tokens: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate tokens[starts[i]:ends[i]] for all i, with their segment ids."""
    lengths = ends - starts
    seg = np.repeat(np.arange(len(starts)), lengths)
    first = np.cumsum(lengths) - lengths
    index = np.arange(lengths.sum()) - first[seg] + starts[seg]
    return tokens[index].astype(np.int64), seg


# ----------------------------------------------------------------------------- sampling


class TrainingExamples:
    """Draws batches of augmented examples from one split of prepared data."""

    def __init__(self, tokens: np.ndarray, offsets: np.ndarray, vocab: Vocab, config: DataConfig) -> None:
        self.vocab = vocab
        self.config = config
        self.tokens = np.ascontiguousarray(tokens, dtype=np.uint16)  # in memory: random access is hot
        shifts = shift_steps(self.tokens.astype(np.int64), vocab)
        self.step_after = np.cumsum(shifts)  # global, monotonic across files
        self.step_at = self.step_after - shifts
        starts, ends = offsets[:-1].astype(np.int64), offsets[1:].astype(np.int64)
        usable = ends - starts >= 2
        self.file_starts, self.file_ends = starts[usable], ends[usable]
        if not len(self.file_starts):
            raise ValueError("no file with at least two events to draw examples from")

        # Valid starts of file f: file_starts[f] + 0..num_starts[f]-1 (leaving a full window after).
        if config.example == "time":
            window_steps = int(round(config.window_s * STEPS_PER_SECOND))
            latest_start_steps = self.step_after[self.file_ends - 1] - window_steps
            num_starts = np.searchsorted(self.step_at, latest_start_steps, "right") - self.file_starts
        else:
            num_starts = self.file_ends - self.file_starts - config.seq_len
        self.num_starts = np.clip(num_starts, 1, self.file_ends - self.file_starts - 1)
        self.cum_starts = np.cumsum(self.num_starts)

    @classmethod
    def from_prepared(
        cls, data_dir: str | Path, split: str, vocab_name: str, config: DataConfig
    ) -> TrainingExamples:
        tokens, offsets = load_prepared(data_dir, split, vocab_name)
        return cls(tokens, offsets, vocab_by_name(vocab_name), config)

    @property
    def num_tokens(self) -> int:
        return len(self.tokens)

    def batch(self, batch_size: int, rng: np.random.Generator) -> Batch:
        cfg = self.config
        width = cfg.seq_len + 1
        # Draws, in a fixed order so a seed fixes the batch.
        draw = rng.integers(0, self.cum_starts[-1], batch_size)
        factors = np.ones(batch_size)
        semitones = np.zeros(batch_size, np.int64)
        if cfg.augment:
            factors = rng.uniform(*cfg.stretch_range, batch_size)
            semitones = rng.integers(cfg.transpose_range[0], cfg.transpose_range[1] + 1, batch_size)
        free = np.zeros(batch_size, bool)
        if cfg.controls and cfg.no_control_fraction > 0:
            free = rng.random(batch_size) < cfg.no_control_fraction

        file = np.searchsorted(self.cum_starts, draw, side="right")
        starts = self.file_starts[file] + draw - (self.cum_starts[file] - self.num_starts[file])
        # Raw window: enough source events to fill the row after augmentation (plus the controls'
        # look-ahead), bounded by the file's end and by a cap on the work per example.
        cap = 2 * width + 64 if cfg.controls else width + width // 4 + 64
        ends = np.minimum(self.file_ends[file], starts + cap)
        if cfg.example == "time":
            raw_s = cfg.window_s + (PITCH_WINDOW_S if cfg.controls else 0.0)
            raw_steps = np.ceil(raw_s * STEPS_PER_SECOND / factors).astype(np.int64) + 1
            ends = np.minimum(ends, np.searchsorted(self.step_at, self.step_at[starts] + raw_steps, "left"))
        ends = np.maximum(ends, starts + 1)

        events, seg = gather_windows(self.tokens, starts, ends)
        if cfg.augment:
            events, seg = transpose(events, seg, semitones)
            events, seg = stretch(events, seg, batch_size, factors, self.vocab)

        controls = None
        if cfg.controls:
            first = np.searchsorted(seg, np.arange(batch_size + 1))
            controls = np.zeros((batch_size, width, CONTROL_SIZE), np.float32)
            for b in range(batch_size):  # a loop over rows; each call is vectorized over events
                row = controls_for_events(events[first[b] : first[b + 1]], self.vocab)[:width]
                controls[b, : len(row)] = row
        if cfg.example == "time":
            step_at, _ = segment_steps(events, seg, batch_size, self.vocab)
            inside = step_at < int(round(cfg.window_s * STEPS_PER_SECOND))
            events, seg = events[inside], seg[inside]  # a prefix of each segment: rows stay aligned
        rows, lengths = rows_from_ragged(events, seg, batch_size, width)
        if controls is not None:
            controls[free] = no_control_vector(CONTROL_SIZE)
            controls[np.arange(width)[None, :] >= lengths[:, None]] = 0.0
        if not cfg.grammar:
            return Batch(rows, lengths, controls)
        masks, forced = self.grammar_masks(rows, lengths, starts == self.file_starts[file])
        return Batch(rows, lengths, controls, masks, forced)

    def grammar_masks(
        self, rows: np.ndarray, lengths: np.ndarray, known_start: np.ndarray
    ) -> tuple[np.ndarray, int]:
        """(masks [B, width - 1, V] aligned with the targets, targets forced allowed)."""
        masks = sequence_masks(rows[:, :-1], self.vocab, known_start=False)
        if known_start.any():
            masks[known_start] = sequence_masks(rows[known_start, :-1], self.vocab, known_start=True)
        targets = rows[:, 1:]
        real = np.arange(targets.shape[1])[None, :] + 1 < lengths[:, None]
        b, t = np.nonzero(real & ~np.take_along_axis(masks, targets[..., None], axis=-1)[..., 0])
        masks[b, t, targets[b, t]] = True
        masks[~real] = True  # padding: no position without an allowed event (no NaN in the loss)
        return masks, len(b)


def batch_rng(seed: int, rank: int, step: int) -> np.random.Generator:
    """The generator of one training step: batches depend only on (seed, rank, step)."""
    return np.random.default_rng([seed, rank, step])


def prefetch_batches(
    examples: TrainingExamples, batch_size: int, seed: int, rank: int, first_step: int, depth: int = 2
) -> Iterator[Batch]:
    """Batches for steps first_step, first_step + 1, ... built ahead in a background thread."""
    q: queue.Queue[Batch | BaseException] = queue.Queue(maxsize=max(1, depth))
    stop = threading.Event()

    def put(item: Batch | BaseException) -> None:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def work() -> None:
        step = first_step
        try:
            while not stop.is_set():
                put(examples.batch(batch_size, batch_rng(seed, rank, step)))
                step += 1
        except BaseException as e:  # handed to the consumer, raised there
            put(e)

    threading.Thread(target=work, name="batches", daemon=True).start()
    try:
        while True:
            item = q.get()
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()


# ----------------------------------------------------------------------------- benchmark


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="Measure how fast training examples are built.")
    p.add_argument("--data", required=True)
    p.add_argument("--vocab", default="dynamics")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--seq-len", type=int, default=DataConfig.seq_len)
    p.add_argument("--example", choices=("time", "events"), default=DataConfig.example)
    p.add_argument("--controls", action="store_true")
    p.add_argument("--no-augment", action="store_true")
    p.add_argument("--seconds", type=float, default=10.0)
    args = p.parse_args(argv)
    config = DataConfig(seq_len=args.seq_len, example=args.example, controls=args.controls,
                        augment=not args.no_augment)
    t0 = time.perf_counter()
    examples = TrainingExamples.from_prepared(args.data, "train", args.vocab, config)
    print(f"loaded {examples.num_tokens:,} tokens in {time.perf_counter() - t0:.1f} s")
    batches = real = 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < args.seconds:
        batch = examples.batch(args.batch_size, batch_rng(0, 0, batches))
        batches += 1
        real += int(batch.lengths.sum())
    elapsed = time.perf_counter() - t0
    slots = batches * args.batch_size * (args.seq_len + 1)
    print(f"{config}\n{batches * args.batch_size / elapsed:,.0f} examples/s, "
          f"{real / elapsed:,.0f} real tokens/s, {slots / elapsed:,.0f} row tokens/s "
          f"({real / slots:.1%} of the rows are real tokens), one thread")


if __name__ == "__main__":
    main()
