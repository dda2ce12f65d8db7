"""The live stream stays grammatical: every event fed to the model, whatever the human plays and
however the engine rolls back, releases and regenerates (driven as tests/test_engine_stream.py
does: no threads, no ports, a tiny real ONNX model)."""

from __future__ import annotations

import numpy as np
import pytest

from perfjam.codec.events import MAX_SHIFT_STEPS, VOCAB_DYNAMICS, EventType
from perfjam.codec.grammar import GrammarState, violations
from perfjam.live.accompany import Accompanist
from perfjam.live.clock import Clock
from perfjam.live.stream import LiveStream
from perfjam.model import PerformanceModel, Sampler

V = VOCAB_DYNAMICS
TS0, OFF0 = V.offsets[EventType.TIME_SHIFT], V.offsets[EventType.NOTE_OFF]
VEL0 = V.offsets[EventType.VELOCITY]
REACTION_STEPS = 4
LOOKAHEAD_STEPS = 15


def ts(steps):
    return TS0 + steps - 1


def vel(b):
    return V.index(EventType.VELOCITY, b)


@pytest.fixture
def stream(engine_models):
    return LiveStream(PerformanceModel.load(engine_models["dense"]), Clock(0.0), 0, max_note_steps=120,
                      max_events_per_step=12)


def assert_grammatical(stream: LiveStream) -> None:
    history = stream.history.tolist()
    assert violations(history, V) == [], [V.describe(e) for e in history[-8:]]
    assert stream.grammar_violations == 0
    replay = GrammarState(V)
    for e in history:
        replay.feed(e)
    np.testing.assert_array_equal(replay.allowed(), stream.grammar.allowed())


def send_due(stream: LiveStream, now: int) -> None:
    pending = stream.pending
    while pending and pending[0].step <= now:
        note = pending.popleft()
        if note.seq >= 0:
            stream.mark_sent(note.seq)


def human_message(rng, stream: LiveStream) -> tuple[int, int, int]:
    """Mostly notes on pitches that are already sounding (the AI's or the human's), some pedal."""
    r = rng.random()
    if r < 0.1:
        return (0xB0, 64, 127 if rng.random() < 0.5 else 0)
    candidates = [*stream.reader.sounding, *stream.human_sounding] if rng.random() < 0.7 else []
    pitch = int(rng.choice(candidates)) if candidates else int(rng.integers(55, 70))
    if rng.random() < 0.5:
        return (0x90, pitch, int(rng.integers(1, 128)))
    return (0x80, pitch, 0)


@pytest.mark.parametrize("seed", range(6))
def test_random_sessions_feed_the_model_only_grammatical_events(stream, seed):
    rng = np.random.default_rng(seed)
    sampler = Sampler(seed)
    if seed % 2:
        stream.shaper = Accompanist(V)  # (a duet)
    now, playing, end_step, shared = 0, True, None, 0
    grace = int(rng.integers(0, 200))
    for _ in range(1500):
        assert set(stream.reader.sounding) == set(stream.ai_on_step), "every AI note has its start"
        assert list(stream.pending) == sorted(stream.pending, key=lambda n: n.time_s), "due in order"
        now += int(rng.integers(0, 6))
        time_s = now / 100
        send_due(stream, now)
        r = rng.random()
        if r < 0.12:  # a human message: the engine rolls back to it, then hears it
            stream.rollback(now, require_sent=True)
            stream.commit()
            shared += bool(set(stream.reader.sounding) & set(stream.human_sounding))
            stream.hear_human(time_s, human_message(rng, stream), None)
        elif r < 0.14:  # settings changed: regenerate beyond the reaction time
            stream.rollback(now + REACTION_STEPS, require_sent=False)
        elif r < 0.15:  # stop / mode change: discard, then release the AI's notes now
            stream.discard_to_now(now)
            stream.flush_human(time_s, None)
            stream.release_ai(max(now, stream.step), None)
            playing = rng.random() < 0.5
        elif r < 0.16:  # the input port is lost
            stream.rollback(now, require_sent=True)
            stream.commit()
            stream.release_human(time_s, None)
        elif r < 0.18:  # call and response: an answer that ends, or none
            end_step = now + int(rng.integers(30, 300)) if end_step is None else None
        elif r < 0.19:
            playing = not playing
        if stream.human_pending:
            stream.flush_human(time_s, None)
        if stream.human_pending:
            continue  # nothing is generated past a step whose human actions are held
        if playing:
            for _ in range(40):
                if stream.step >= now + LOOKAHEAD_STEPS:
                    break
                if not stream.generate(sampler, float(rng.choice([0.5, 1.0, 1.5])), None, None,
                                       now + REACTION_STEPS, end_step, grace):
                    end_step = None
                    break
        elif not stream.spec and not stream.pending:
            stream.catch_up(now, None)
    assert len(stream.history) > 500
    assert_grammatical(stream)
    assert shared or stream.shaper is not None, "the session never had a pitch sounding for both players"


def test_rollback_never_keeps_a_short_shift_before_a_human_event(stream):
    stream.push_forced([ts(5)], None)  # e.g. the end of an answer: a shift cut short
    stream.rollback(100, require_sent=True)
    stream.commit()
    stream.hear_human(0.5, (0x90, 60, 64), None)
    stream.flush_human(0.6, None)
    assert stream.history.tolist() == [ts(50), vel(16), 60]
    assert_grammatical(stream)


def test_forced_shifts_merge_with_a_short_one_and_wait_for_the_note_on(stream):
    stream.push_forced([ts(5)], None)
    stream.generate(Sampler(0), 1.0, None, None, min_step=30)  # late: a forced shift to step 30
    assert stream.history.tolist() == [ts(30)]
    stream.push_forced([ts(100), vel(9)], None)  # a primer: a full shift (30 + 100 = 100 + 30)...
    assert stream.history.tolist() == [ts(100), ts(30), vel(9)]
    stream.generate(Sampler(0), 1.0, None, None, min_step=135)  # ...and generation falls behind
    assert stream.history.tolist() == [ts(100), ts(35), vel(9)]
    stream.push_forced([ts(MAX_SHIFT_STEPS)], None)  # a shift longer than one event: 100 + 100
    stream.push_forced([60], None)  # (the primer's NOTE_ON; a solo primer is its own grammar's)
    assert_grammatical(stream)


def test_a_pitch_both_sound_is_the_humans_to_release(stream):
    stream.hear_human(0.0, (0x90, 60, 90), None)
    stream.flush_human(0.02, None)
    stream.push_forced([ts(10), 60], None)  # the AI strikes the human's pitch
    assert 60 in stream.reader.sounding and stream.human_sounding == {60: 1}
    assert not stream.restriction()[OFF0 + 60], "the model may not release it"
    history = stream.history.tolist()
    end_step = stream.step
    while stream.generate(Sampler(0), 1.0, None, None, 0, end_step):  # the answer ends, at a breath
        pass
    offs = [n for n in stream.pending if not n.is_on]
    after = stream.history.tolist()[len(history):]
    assert stream.history.tolist()[:len(history)] == history and all(TS0 <= e < VEL0 for e in after)
    assert [n.pitch for n in offs] == [60] and offs[0].restrike, "ended silently, not fed"
    assert not stream.reader.sounding
    stream.rollback(stream.step, require_sent=False)
    for note in list(stream.pending):
        stream.pending.popleft()
        stream.mark_sent(note.seq)
    stream.commit()
    stream.hear_human(0.5, (0x80, 60, 0), None)  # the human's release is still grammatical
    stream.flush_human(0.6, None)
    assert stream.history.tolist()[-1] == OFF0 + 60
    assert_grammatical(stream)


def test_a_human_event_on_the_ais_pitch_ends_the_ais_note(stream):
    stream.push_forced([ts(10), vel(20), 62], None)
    for note in list(stream.pending):
        stream.pending.popleft()
        stream.mark_sent(note.seq)
    stream.rollback(20, require_sent=True)
    stream.commit()
    stream.hear_human(0.2, (0x90, 62, 90), None)  # the human strikes it again
    stream.flush_human(0.3, None)
    assert 62 not in stream.reader.sounding and stream.human_sounding == {62: 1}
    (release,) = list(stream.pending)
    assert (release.pitch, release.is_on, release.restrike, release.step) == (62, False, True, 20)
    assert_grammatical(stream)
