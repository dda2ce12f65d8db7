"""Training examples: vectorized augmentation (transpose, time-stretch), batches, controls, seeds."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perfjam.codec.events import (
    MAX_SHIFT_STEPS,
    STEPS_PER_SECOND,
    VOCAB_DYNAMICS,
    VOCAB_NO_DYNAMICS,
    EventReader,
    EventType,
    Note,
    encode_notes,
)
from perfjam.codec.midifile import decode_events
from perfjam.controls import CONTROL_SIZE, NUM_DENSITY_BINS
from training.dataset import DataConfig, TrainingExamples, augment, batch_rng, shift_steps

SHIFT0 = VOCAB_DYNAMICS.offsets[EventType.TIME_SHIFT]


def random_notes(seed: int, count: int = 200, low: int = 21, high: int = 108) -> list[Note]:
    """Chords and overlapping notes (never on a sounding pitch, as read from MIDI files), with
    varied velocities and some gaps longer than one TIME_SHIFT."""
    rng = np.random.default_rng(seed)
    notes: list[Note] = []
    sounding_until: dict[int, float] = {}
    t = 0.0
    while len(notes) < count:
        t += float(rng.choice([0.0, 0.05, 0.13, 0.4, 1.7]))
        pitch, end = int(rng.integers(low, high + 1)), t + float(rng.uniform(0.02, 2.5))
        if sounding_until.get(pitch, -1.0) < t:
            notes.append(Note(pitch, int(rng.integers(20, 127)), t, end))
            sounding_until[pitch] = end
    return notes


def total_steps(events: np.ndarray) -> int:
    return int(shift_steps(np.asarray(events), VOCAB_DYNAMICS).sum())


def stray_note_offs(events, vocab=VOCAB_DYNAMICS) -> int:
    """NOTE_OFFs of a pitch that is not sounding (the reader ignores them)."""
    reader, strays = EventReader(vocab), 0
    off0 = vocab.offsets[EventType.NOTE_OFF]
    for e in events:
        e = int(e)
        if off0 <= e < off0 + 128 and (e - off0) not in reader.sounding:
            strays += 1
        reader.feed(e)
    return strays


def canonical_shifts(events: np.ndarray) -> bool:
    """Every run of TIME_SHIFTs is 100-step shifts then one remainder, as the encoder writes them."""
    shifts = shift_steps(np.asarray(events), VOCAB_DYNAMICS)
    short = (shifts > 0) & (shifts < MAX_SHIFT_STEPS)
    return not np.any(short[:-1] & (shifts[1:] > 0))


def test_transpose_shifts_every_pitch_and_drops_notes_pushed_out_of_range():
    edges = [Note(p, 80, 0.5 * i, 0.5 * i + 0.3) for i, p in enumerate((0, 2, 125, 127))]
    notes = random_notes(1, 150) + edges
    events = np.array(encode_notes(notes, VOCAB_DYNAMICS))
    for k in (4, -3):
        moved = decode_events(augment(events, VOCAB_DYNAMICS, semitones=k), VOCAB_DYNAMICS)
        expected = [(n.pitch + k, n.start_s, n.end_s) for n in decode_events(events, VOCAB_DYNAMICS)
                    if 0 <= n.pitch + k <= 127]
        assert len(expected) == len(notes) - 2  # two edge notes pushed out of range
        assert sorted((n.pitch, n.start_s, n.end_s) for n in moved) == sorted(expected)


def test_stretch_by_one_is_the_identity_on_files_and_on_any_window():
    for vocab in (VOCAB_DYNAMICS, VOCAB_NO_DYNAMICS):
        events = np.array(encode_notes(random_notes(2), vocab))
        assert np.array_equal(augment(events, vocab), events)
        for start, end in [(0, 10), (3, 300), (57, len(events)), (len(events) - 5, len(events))]:
            window = events[start:end]
            assert np.array_equal(augment(window, vocab, factor=1.0), window)


def test_stretch_lengthens_time_and_scales_onsets_within_one_step():
    events = np.array(encode_notes(random_notes(3), VOCAB_DYNAMICS))
    stretched = augment(events, VOCAB_DYNAMICS, factor=1.05)
    assert total_steps(stretched) == pytest.approx(1.05 * total_steps(events), abs=1)
    assert canonical_shifts(stretched)
    before, after = decode_events(events, VOCAB_DYNAMICS), decode_events(stretched, VOCAB_DYNAMICS)
    assert len(before) == len(after)
    one_step = 1.0 / STEPS_PER_SECOND
    for a, b in zip(sorted(before, key=lambda n: (n.start_s, n.pitch)),
                    sorted(after, key=lambda n: (n.start_s, n.pitch)), strict=True):
        assert a.pitch == b.pitch and a.velocity == b.velocity
        assert b.start_s == pytest.approx(a.start_s * 1.05, abs=one_step)
        assert b.end_s == pytest.approx(a.end_s * 1.05, abs=one_step)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 1000), factor=st.floats(0.95, 1.05), semitones=st.integers(-4, 4))
def test_augmentation_never_creates_a_note_off_without_its_note_on(seed, factor, semitones):
    events = np.array(encode_notes(random_notes(seed, 60, low=0, high=127), VOCAB_DYNAMICS))
    assert stray_note_offs(events) == 0
    augmented = augment(events, VOCAB_DYNAMICS, factor=factor, semitones=semitones)
    assert stray_note_offs(augmented) == 0
    assert canonical_shifts(augmented)
    ons = np.count_nonzero(augmented < 128)
    assert ons == np.count_nonzero((augmented >= 128) & (augmented < 256))  # every on has its off
    assert total_steps(augmented) == pytest.approx(factor * total_steps(events), abs=1)


def make_examples(config: DataConfig, vocab=VOCAB_DYNAMICS) -> TrainingExamples:
    files = [np.array(encode_notes(random_notes(seed, 400), vocab), np.uint16) for seed in range(5)]
    offsets = np.concatenate([[0], np.cumsum([len(f) for f in files])])
    return TrainingExamples(np.concatenate(files), offsets, vocab, config)


def test_batches_are_deterministic_given_the_seed():
    examples = make_examples(DataConfig(seq_len=256, controls=True))
    a, b = (examples.batch(8, batch_rng(7, 0, 3)) for _ in range(2))
    assert np.array_equal(a.tokens, b.tokens) and np.array_equal(a.controls, b.controls)
    c = examples.batch(8, batch_rng(7, 1, 3))  # another rank: other examples
    assert not np.array_equal(a.tokens, c.tokens)


def test_time_examples_hold_at_most_the_window_and_are_padded():
    seq_len, window_s = 600, 10.0
    examples = make_examples(DataConfig(seq_len=seq_len, example="time", window_s=window_s))
    batch = examples.batch(16, batch_rng(0, 0, 0))
    assert batch.tokens.shape == (16, seq_len + 1) and batch.controls is None
    for row, length in zip(batch.tokens, batch.lengths, strict=True):
        events = row[:length]
        shifts = shift_steps(events, VOCAB_DYNAMICS)
        assert (np.cumsum(shifts) - shifts)[-1] < window_s * STEPS_PER_SECOND  # every event starts inside
        assert not row[length:].any()
        assert canonical_shifts(events)
    assert batch.target_tokens == int((batch.lengths - 1).sum())


def test_event_examples_fill_the_rows():
    examples = make_examples(DataConfig(seq_len=128, example="events"))
    batch = examples.batch(32, batch_rng(0, 0, 0))
    assert (batch.lengths >= 120).all()  # transposition may drop a few notes at the edges


def test_controls_describe_the_augmented_rows():
    examples = make_examples(DataConfig(seq_len=300, example="time", window_s=60.0, controls=True))
    batch = examples.batch(8, batch_rng(1, 0, 0))
    assert batch.controls.shape == (8, 301, CONTROL_SIZE)
    for row, controls, length in zip(batch.tokens, batch.controls, batch.lengths, strict=True):
        assert np.allclose(controls[:length, :NUM_DENSITY_BINS].sum(axis=1), 1.0)
        assert np.allclose(controls[:length, NUM_DENSITY_BINS:].sum(axis=1), 1.0)
        assert not controls[length:].any()
        # The pitch classes look ahead from each event: the first event's histogram counts the
        # note-ons of the (transposed) row itself.
        onsets = row[:length][row[:length] < 128]
        assert controls[0, NUM_DENSITY_BINS + int(onsets[0]) % 12] > 0


def test_example_throughput_is_far_above_a_gpu_trainer_s_needs():
    import time

    examples = make_examples(DataConfig(seq_len=512, example="time"))
    t0 = time.perf_counter()
    tokens = sum(int(examples.batch(32, batch_rng(0, 0, step)).lengths.sum()) for step in range(10))
    assert tokens / (time.perf_counter() - t0) > 1e6  # measured ~10M tokens/s on one core
