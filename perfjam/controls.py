"""Control vectors for the conditioned model (as Magenta's conditioned Performance RNN configs).

At each event the control describes the music of the next few seconds:

* note density: notes per second over the next ``DENSITY_WINDOW_S`` seconds, one-hot in bins
  with edges ``DENSITY_BIN_EDGES`` (bin 0 is below the first edge);
* pitch classes: a normalized 12-bin histogram of the note-ons in the next
  ``PITCH_WINDOW_S`` seconds (uniform where there are none).

The pianist sets them live in the app: a density in notes/s and a key/scale (or they follow what
the pianist plays: ``perfjam.follow``). A density *asked for* goes through ``density_level``:
the input at which the model plays that many notes per second as played
(``DENSITY_RESPONSE``, measured), between two bins both one-hot entries weighted
(``request_vector``), because a bin spans a factor of two and the model plays near its top.

* no control (Magenta's optional conditioning): one more input, ``NO_CONTROL_INDEX``; 1 means
  "controls disabled" and every other entry is 0 (``no_control_vector``). The trainer feeds it
  for a random fraction of the examples, so one model plays freely and follows density/key
  when given them.

Models that predate the flag (``LEGACY_CONTROL_SIZE`` = 20 inputs, ``LEGACY_CONTROL_LAYOUT``)
stay loadable: the flag is the last entry, so their vector is a prefix of the current one, and
``fit_control`` turns a current vector into theirs (see ``perfjam.model.PerformanceModel.step``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from perfjam.codec.events import STEPS_PER_SECOND, EventType, Vocab

DENSITY_BIN_EDGES = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0)
NUM_DENSITY_BINS = len(DENSITY_BIN_EDGES) + 1
NUM_PITCH_CLASSES = 12
LEGACY_CONTROL_SIZE = NUM_DENSITY_BINS + NUM_PITCH_CLASSES  # models without the no-control flag
NO_CONTROL_INDEX = LEGACY_CONTROL_SIZE
CONTROL_SIZE = LEGACY_CONTROL_SIZE + 1
DENSITY_WINDOW_S = 3.0
PITCH_WINDOW_S = 5.0
DEFAULT_NOTES_PER_S = 8.0  # what a model without the flag is asked for when nothing is set
LEGACY_CONTROL_LAYOUT = {
    "density_one_hot": [0, NUM_DENSITY_BINS],
    "density_bin_edges": list(DENSITY_BIN_EDGES),
    "density_window_s": DENSITY_WINDOW_S,
    "pitch_class_histogram": [NUM_DENSITY_BINS, LEGACY_CONTROL_SIZE],
    "pitch_window_s": PITCH_WINDOW_S,
}
CONTROL_LAYOUT = {**LEGACY_CONTROL_LAYOUT, "no_control": NO_CONTROL_INDEX}

# What the default model plays after a phrase when asked for a density level (a bin; between two
# bins, both entries weighted), at the app's default temperature and note min-p: notes per second
# as played (``perfjam.musicality.onset_rate``), median of 40 six-second continuations of
# validation-split phrases, the phrase's pitch classes asked for (``python
# benchmarks/density_response.py``). Monotonic; used to ask for a density.
DENSITY_RESPONSE = (
    (0.0, 1.22), (0.5, 1.47), (1.0, 2.21), (1.5, 2.74), (2.0, 3.33), (2.5, 5.02), (3.0, 6.70),
    (3.5, 7.89), (4.0, 11.14), (4.5, 13.94), (5.0, 17.38), (5.5, 20.03), (6.0, 25.64),
)

PITCH_CLASS_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
SCALES = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "pentatonic": (0, 2, 4, 7, 9),
    "chromatic": tuple(range(12)),
}


def pitch_name(pitch: int) -> str:
    """MIDI pitch -> name with octave, middle C (60) = "C4"."""
    return f"{PITCH_CLASS_NAMES[pitch % 12]}{pitch // 12 - 1}"


def density_bin(notes_per_s: float) -> int:
    return int(np.searchsorted(DENSITY_BIN_EDGES, notes_per_s, side="right"))


def density_level(notes_per_s: float) -> float:
    """The density input (0 .. NUM_DENSITY_BINS - 1; fractional: between two bins) at which the
    model plays ``notes_per_s`` as played: ``DENSITY_RESPONSE`` interpolated in log density,
    clamped to its ends."""
    levels = [level for level, _ in DENSITY_RESPONSE]
    rates = np.log([rate for _, rate in DENSITY_RESPONSE])
    return float(np.interp(np.log(max(notes_per_s, 1e-3)), rates, levels))


def density_input(level: float) -> np.ndarray:
    """The density part of a control vector at ``level``: one-hot at a whole level, two
    neighbouring entries weighted between two."""
    level = min(max(level, 0.0), NUM_DENSITY_BINS - 1.0)
    out = np.zeros(NUM_DENSITY_BINS, np.float32)
    low = int(level)
    out[low] = 1.0 - (level - low)
    if low + 1 < NUM_DENSITY_BINS:
        out[low + 1] = level - low
    return out


def scale_histogram(key: int | str = 0, scale: str = "chromatic") -> np.ndarray:
    """A pitch-class histogram for a key (0 = C or a name like "Eb") and a scale name."""
    tonic = PITCH_CLASS_NAMES.index(key) if isinstance(key, str) else int(key) % 12
    histogram = np.zeros(NUM_PITCH_CLASSES, np.float32)
    for degree in SCALES[scale]:
        histogram[(tonic + degree) % 12] = 1.0
    return histogram / histogram.sum()


def _check_size(control_size: int) -> None:
    if control_size not in (CONTROL_SIZE, LEGACY_CONTROL_SIZE):
        raise ValueError(f"control_size {control_size}: this version knows {CONTROL_SIZE} "
                         f"(with the no-control flag) and {LEGACY_CONTROL_SIZE} (without)")


def layout_for(control_size: int) -> dict:
    """The layout of a model with ``control_size`` inputs (the metadata's ``control_layout``)."""
    _check_size(control_size)
    return dict(CONTROL_LAYOUT if control_size == CONTROL_SIZE else LEGACY_CONTROL_LAYOUT)


def control_vector(
    notes_per_s: float, pitch_histogram: Sequence[float] | None = None, control_size: int = CONTROL_SIZE
) -> np.ndarray:
    """Density and pitch classes requested (the no-control flag, if the model has one, is 0)."""
    _check_size(control_size)
    vector = np.zeros(control_size, np.float32)
    vector[density_bin(notes_per_s)] = 1.0
    histogram = np.asarray(pitch_histogram if pitch_histogram is not None else scale_histogram(), np.float32)
    total = float(histogram.sum())
    pitch = slice(NUM_DENSITY_BINS, NUM_DENSITY_BINS + NUM_PITCH_CLASSES)
    vector[pitch] = histogram / total if total > 0 else 1.0 / NUM_PITCH_CLASSES
    return vector


def request_vector(
    notes_per_s: float, pitch_histogram: Sequence[float] | None = None, control_size: int = CONTROL_SIZE
) -> np.ndarray:
    """What to ask of the model for it to play ``notes_per_s`` (``density_level``) in
    ``pitch_histogram``: ``control_vector`` with the density input at that level."""
    vector = control_vector(notes_per_s, pitch_histogram, control_size)
    vector[:NUM_DENSITY_BINS] = density_input(density_level(notes_per_s))
    return vector


def no_control_vector(control_size: int = CONTROL_SIZE) -> np.ndarray:
    """Play freely: the flag set, the rest 0. A model without the flag gets the old default
    (``DEFAULT_NOTES_PER_S``, uniform pitch classes), the closest thing it knows."""
    _check_size(control_size)
    if control_size == LEGACY_CONTROL_SIZE:
        return control_vector(DEFAULT_NOTES_PER_S, None, control_size)
    vector = np.zeros(control_size, np.float32)
    vector[NO_CONTROL_INDEX] = 1.0
    return vector


def fit_control(vector: np.ndarray, control_size: int) -> np.ndarray:
    """A current-layout vector for a model with ``control_size`` inputs (identity when equal;
    for a model without the flag: the vector without it, or the old default if it is set)."""
    vector = np.asarray(vector, np.float32)
    if vector.shape[-1] == control_size or control_size != LEGACY_CONTROL_SIZE:
        return vector
    if vector.shape[-1] != CONTROL_SIZE:
        raise ValueError(f"control vector of size {vector.shape[-1]}: expected {CONTROL_SIZE} "
                         f"or {control_size}")
    fitted = vector[..., :LEGACY_CONTROL_SIZE].copy()
    fitted[vector[..., NO_CONTROL_INDEX] > 0] = no_control_vector(LEGACY_CONTROL_SIZE)
    return fitted


def controls_for_events(
    events: Sequence[int] | np.ndarray, vocab: Vocab, control_size: int = CONTROL_SIZE
) -> np.ndarray:
    """A control vector for every event position, looking ahead from that event's time (the
    no-control flag, if ``control_size`` has one, is 0)."""
    _check_size(control_size)
    events = np.asarray(events, dtype=np.int64)
    shift0 = vocab.offsets[EventType.TIME_SHIFT]
    is_shift = (events >= shift0) & (events < shift0 + 100)
    shift_steps = np.where(is_shift, events - shift0 + 1, 0)
    step_after = np.cumsum(shift_steps)
    step_at = step_after - shift_steps  # time at which each event happens
    is_on = events < vocab.offsets[EventType.NOTE_OFF]
    onset_steps = step_at[is_on]  # sorted: time never goes back
    onset_classes = events[is_on] % NUM_PITCH_CLASSES

    out = np.zeros((len(events), control_size), np.float32)
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
    pitch = slice(NUM_DENSITY_BINS, NUM_DENSITY_BINS + NUM_PITCH_CLASSES)
    out[:, pitch] = np.where(totals > 0, counts / np.maximum(totals, 1), 1.0 / NUM_PITCH_CLASSES)
    return out


def requested_control(control_size: int, notes_per_s: float | None = None,
                      pitch_histogram: Sequence[float] | None = None) -> np.ndarray | None:
    """The control input for a model with ``control_size`` inputs (0: None) when the player asks
    for ``notes_per_s`` (``request_vector``) and/or ``pitch_histogram``; nothing asked: play
    freely (the "no control" vector; a model without the flag gets ``DEFAULT_NOTES_PER_S``)."""
    if not control_size:
        return None
    if notes_per_s is None and pitch_histogram is None:
        return no_control_vector(control_size)
    nps = DEFAULT_NOTES_PER_S if notes_per_s is None else notes_per_s
    return request_vector(nps, pitch_histogram, control_size)
