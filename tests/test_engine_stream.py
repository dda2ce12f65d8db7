"""perfjam.live.stream without threads or ports: the look-ahead, rollback and what the model heard,
on a real (tiny, random) ONNX model. A fresh model fed ``history`` must reach exactly the
stream's state: that is what "the model conditions on exactly what was heard" means."""

from __future__ import annotations

import numpy as np
import pytest

from perfjam.codec.events import MAX_SHIFT_STEPS, VOCAB_DYNAMICS, EventType
from perfjam.live.clock import Clock
from perfjam.live.realtime import TimingStat
from perfjam.live.stream import RELEASE_SPREAD_STEPS, REST_STEPS, LiveStream
from perfjam.model import PerformanceModel, Sampler

V = VOCAB_DYNAMICS
TS0 = V.offsets[EventType.TIME_SHIFT]


def replay_logits(path: str, history) -> np.ndarray:
    model = PerformanceModel.load(path)
    logits = None
    for event in history:
        logits = model.step(int(event))
    return logits


def kinds(events):
    return [V.event(e)[0] for e in events]


@pytest.fixture
def stream(engine_models):
    return LiveStream(PerformanceModel.load(engine_models["dense"]), Clock(0.0), 0, max_note_steps=800)


def generate_until(stream, step, sampler, end_step=None, min_step=0, grace_steps=0):
    while stream.step < step:
        if not stream.generate(sampler, 1.0, None, None, min_step, end_step, grace_steps):
            break


def test_rollback_restores_exactly_the_state_of_what_was_heard(stream, engine_models):
    sampler = Sampler(3)
    generate_until(stream, 300, sampler)
    # The engine sends the notes due by step 150.
    for note in list(stream.pending):
        if note.step > 150:
            break
        stream.pending.popleft()
        stream.mark_sent(note.seq)
    sent_before = stream.last_sent_seq
    dropped = stream.rollback(160, require_sent=True)
    stream.commit()
    assert dropped > 0 and stream.step <= 160 and not stream.spec
    assert all(n.seq <= sent_before for n in stream.pending)
    assert stream.hear_human(1.6, (0x90, 61, 100), None) == []  # held until its step is over...
    assert stream.human_pending and stream.human_due_s == pytest.approx(1.605)
    heard = stream.flush_human(1.605 + 1e-6, None)  # ...then heard
    assert heard[0].step == 160 and stream.step == 160 and not stream.human_pending
    np.testing.assert_allclose(stream.logits, replay_logits(engine_models["dense"], stream.history),
                               atol=1e-5)
    # Generation resumes from there, and a second rollback is exact too.
    generate_until(stream, 400, sampler)
    stream.rollback(250, require_sent=False)
    np.testing.assert_allclose(stream.logits, replay_logits(engine_models["dense"], stream.history),
                               atol=1e-5)


def test_rollback_to_before_anything_was_generated_returns_to_the_zero_state(stream, engine_models):
    generate_until(stream, 100, Sampler(0))
    stream.rollback(0, require_sent=True)
    assert stream.logits is None and len(stream.history) == 0 and stream.step == 0
    zero = PerformanceModel.load(engine_models["dense"])
    np.testing.assert_array_equal(stream.model.step(5), zero.step(5))


def test_a_human_event_after_silence_is_heard_with_the_real_elapsed_time(stream):
    stream.catch_up(250, None)  # 2.5 s of silence while idle: TIME_SHIFT(100) x 2
    assert stream.history.tolist() == [TS0 + 99, TS0 + 99]
    stream.hear_human(2.731, (0x90, 60, 64), None)
    stream.flush_human(2.74, None)
    assert stream.history.tolist()[2:] == [TS0 + 72, V.index(EventType.VELOCITY, 16), 60]


def test_hearing_a_dense_step_in_slices_hears_the_same_events_in_the_same_order(stream, engine_models):
    chord = [(0x90, pitch, 40 + 9 * i) for i, pitch in enumerate((48, 52, 55, 60, 64, 67))]
    whole = LiveStream(PerformanceModel.load(engine_models["dense"]), Clock(0.0), 0)
    for i, msg in enumerate(chord):
        whole.hear_human(0.100 + 0.0008 * i, msg, None)  # one 10 ms step, a rolled chord
        stream.hear_human(0.100 + 0.0008 * i, msg, None, until_s=0.0)  # the slice is long over
    assert stream.human_pending and not stream.unheard  # held: the step is not over yet
    whole.flush_human(0.2, None)
    heard = [len(stream.flush_human(0.2, None, until_s=0.0))]  # the step is over...
    while stream.unheard:  # ...and heard over the engine's next turns, one action each
        assert stream.human_pending and stream.human_due_s == 0.0  # (due now: no generating before)
        heard.append(len(stream.flush_human(0.2, None, until_s=0.0)))
    assert heard == [1] * len(chord) and not stream.human_pending
    assert stream.history.tolist() == whole.history.tolist()
    np.testing.assert_allclose(stream.logits, whole.logits, atol=1e-6)


def test_generation_waits_for_min_step_with_a_forced_time_shift(stream):
    stream.generate(Sampler(0), 1.0, None, None, min_step=37)
    assert stream.history.tolist() == [TS0 + 36] and stream.step == 37


def test_the_model_only_releases_its_own_notes(stream):
    stream.hear_human(0.0, (0x90, 60, 90), None)  # a human note the model must not end
    stream.flush_human(0.01, None)
    sampler = Sampler(5)
    generate_until(stream, 1000, sampler)
    ai_sounding: set[int] = set()
    for event in stream.history.tolist()[2:]:  # after the human's VELOCITY, NOTE_ON
        kind, value = V.event(event)
        if kind == EventType.NOTE_ON:
            ai_sounding.add(value)
        elif kind == EventType.NOTE_OFF:
            assert value in ai_sounding, "the model released a note it was not playing"
            ai_sounding.discard(value)


def test_notes_are_released_at_the_length_limit(engine_models):
    stream = LiveStream(PerformanceModel.load(engine_models["holding"]), Clock(0.0), 0, max_note_steps=50)
    generate_until(stream, 1000, Sampler(2))
    opened = {}
    for note in stream.pending:
        if note.is_on:
            opened[note.pitch] = note.step
        elif note.pitch in opened:
            assert note.step - opened.pop(note.pitch) <= 50
    assert not opened or max(stream.step - s for s in opened.values()) <= 50


@pytest.mark.parametrize("seed", [4, 5, 6])
def test_an_answer_ends_at_a_breath_of_its_own_in_a_short_decrescendo(stream, seed):
    generate_until(stream, 10_000, Sampler(seed), end_step=300, grace_steps=200)
    assert not stream.reader.sounding and stream.step < 10_000
    assert not stream.generate(Sampler(seed), 1.0, None, None, 0, 300, 200), "nothing left"
    ons = [n.step for n in stream.pending if n.is_on]
    last_on = max(ons)
    assert last_on <= 300 + 200, "no note begins after the length and its grace"
    finals = sorted(n.step for n in stream.pending if not n.is_on and n.step > last_on)
    if finals and stream.step > 300:
        assert finals[-1] >= min(last_on, 500) + REST_STEPS, "it waited for a rest of its own"
        breath = [t for t in finals if t >= min(last_on, 500) + REST_STEPS]
        assert len(set(breath)) == len(breath), "released one after another, not all at once"
        assert breath[-1] - breath[0] <= 2 * RELEASE_SPREAD_STEPS


def test_an_answer_past_its_grace_begins_no_more_notes(engine_models):
    stream = LiveStream(PerformanceModel.load(engine_models["dense"]), Clock(0.0), 0)
    generate_until(stream, 10_000, Sampler(1), end_step=100, grace_steps=0)
    assert max(n.step for n in stream.pending if n.is_on) <= 100
    assert not stream.reader.sounding


def test_a_model_that_never_advances_time_is_made_to(engine_models):
    stream = LiveStream(PerformanceModel.load(engine_models["dense"]), Clock(0.0), 0, max_events_per_step=8)
    stream.logits = np.full(V.size, -50.0, np.float32)
    stream.logits[60] = 50.0  # "NOTE_ON 60" forever
    stream.generate(Sampler(0), 1.0, None, None, 0)
    for _ in range(40):
        stream.logits[:TS0] = -50.0
        stream.logits[60] = 50.0
        stream.generate(Sampler(0), 1.0, None, None, 0)
    assert stream.step > 0


def test_release_ai_is_heard_and_sent_now(stream):
    sampler = Sampler(7)
    generate_until(stream, 200, sampler)
    while not stream.reader.sounding:
        generate_until(stream, stream.step + 10, sampler)
    for note in list(stream.pending):
        stream.pending.popleft()
        stream.mark_sent(note.seq)
    sounding = stream.ai_sounding
    stream.rollback(stream.step, require_sent=True)
    stream.commit()
    offs = stream.release_ai(stream.step + 3, None)
    assert sorted(n.pitch for n in offs) == sounding and not stream.reader.sounding
    assert all(not n.is_on for n in offs)
    assert stream.history.tolist()[-1] == V.index(EventType.NOTE_OFF, sounding[-1])


def test_clock_runs_music_faster_when_accelerated():
    clock = Clock(10.0, speed=4.0)
    assert clock.step_at(10.25) == 100 and clock.time_of(100) == pytest.approx(10.25)
    assert clock.steps(1.0) == 100 and clock.wall_s(1.0) == 0.25
    assert MAX_SHIFT_STEPS == 100


def test_timing_stat_percentiles():
    stat = TimingStat(window=100)
    for i in range(1, 1001):
        stat.add(i / 1e6)  # 0.001 .. 1.0 ms
    assert stat.count == 1000 and stat.max_ms == pytest.approx(1.0)
    assert stat.overall(50) == pytest.approx(0.5, abs=0.011)
    assert stat.overall(99) == pytest.approx(0.99, abs=0.011)
    assert stat.recent(50) == pytest.approx(0.951, abs=0.002)  # the last 100 values
    assert stat.summary()["count"] == 1000
