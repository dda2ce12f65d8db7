"""Control vectors for the conditioned model (as Magenta's conditioned Performance RNN configs).

At each event the control describes the music of the next few seconds:

* note density: notes per second over the next ``DENSITY_WINDOW_S`` seconds, one-hot in bins
  with edges ``DENSITY_BIN_EDGES`` (bin 0 is below the first edge);
* pitch classes: a normalized 12-bin histogram of the note-ons in the next
  ``PITCH_WINDOW_S`` seconds (uniform where there are none).

The pianist sets them live in the app: a density in notes/s and a key/scale.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from perfjam.codec.events import STEPS_PER_SECOND, EventType, Vocab

DENSITY_BIN_EDGES = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0)
NUM_DENSITY_BINS = len(DENSITY_BIN_EDGES) + 1
NUM_PITCH_CLASSES = 12
CONTROL_SIZE = NUM_DENSITY_BINS + NUM_PITCH_CLASSES
DENSITY_WINDOW_S = 3.0
PITCH_WINDOW_S = 5.0
CONTROL_LAYOUT = {
    "density_one_hot": [0, NUM_DENSITY_BINS],
    "density_bin_edges": list(DENSITY_BIN_EDGES),
    "density_window_s": DENSITY_WINDOW_S,
    "pitch_class_histogram": [NUM_DENSITY_BINS, CONTROL_SIZE],
    "pitch_window_s": PITCH_WINDOW_S,
}

PITCH_CLASS_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
SCALES = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "pentatonic": (0, 2, 4, 7, 9),
    "chromatic": tuple(range(12)),
}


def density_bin(notes_per_s: float) -> int:
    return int(np.searchsorted(DENSITY_BIN_EDGES, notes_per_s, side="right"))


def scale_histogram(key: int | str = 0, scale: str = "chromatic") -> np.ndarray:
    """A pitch-class histogram for a key (0 = C or a name like "Eb") and a scale name."""
    tonic = PITCH_CLASS_NAMES.index(key) if isinstance(key, str) else int(key) % 12
    histogram = np.zeros(NUM_PITCH_CLASSES, np.float32)
    for degree in SCALES[scale]:
        histogram[(tonic + degree) % 12] = 1.0
    return histogram / histogram.sum()


def control_vector(notes_per_s: float, pitch_histogram: Sequence[float] | None = None) -> np.ndarray:
    vector = np.zeros(CONTROL_SIZE, np.float32)
    vector[density_bin(notes_per_s)] = 1.0
    histogram = np.asarray(pitch_histogram if pitch_histogram is not None else scale_histogram(), np.float32)
    total = float(histogram.sum())
    vector[NUM_DENSITY_BINS:] = histogram / total if total > 0 else 1.0 / NUM_PITCH_CLASSES
    return vector


def controls_for_events(events: Sequence[int] | np.ndarray, vocab: Vocab) -> np.ndarray:
    """A control vector for every event position, looking ahead from that event's time."""
    events = np.asarray(events, dtype=np.int64)
    shift0 = vocab.offsets[EventType.TIME_SHIFT]
    is_shift = (events >= shift0) & (events < shift0 + 100)
    shift_steps = np.where(is_shift, events - shift0 + 1, 0)
    step_after = np.cumsum(shift_steps)
    step_at = step_after - shift_steps  # time at which each event happens
    is_on = events < vocab.offsets[EventType.NOTE_OFF]
    onset_steps = step_at[is_on]  # sorted: time never goes back
    onset_classes = events[is_on] % NUM_PITCH_CLASSES

    out = np.zeros((len(events), CONTROL_SIZE), np.float32)
    density_window = int(DENSITY_WINDOW_S * STEPS_PER_SECOND)
    lo = np.searchsorted(onset_steps, step_at, side="left")
    hi = np.searchsorted(onset_steps, step_at + density_window, side="left")
    bins = np.searchsorted(DENSITY_BIN_EDGES, (hi - lo) / DENSITY_WINDOW_S, side="right")
    out[np.arange(len(events)), bins] = 1.0

    cumulative = np.zeros((len(onset_classes) + 1, NUM_PITCH_CLASSES), np.float32)
    cumulative[np.arange(1, len(onset_classes) + 1), onset_classes] = 1.0
    cumulative = np.cumsum(cumulative, axis=0)
    hi = np.searchsorted(onset_steps, step_at + int(PITCH_WINDOW_S * STEPS_PER_SECOND), side="left")
    counts = cumulative[hi] - cumulative[lo]
    totals = counts.sum(axis=1, keepdims=True)
    out[:, NUM_DENSITY_BINS:] = np.where(totals > 0, counts / np.maximum(totals, 1), 1.0 / NUM_PITCH_CLASSES)
    return out
