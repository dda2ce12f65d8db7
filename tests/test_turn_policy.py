"""perfjam.live.policy.TurnPolicy without threads, ports or a model: who plays when."""

from __future__ import annotations

import pytest

from perfjam.live.clock import Clock
from perfjam.live.policy import (
    ADAPTIVE_GAP,
    DUET_GRACE_S,
    MAX_GAP_FACTOR,
    PEDAL_RING_S,
    TurnPolicy,
)


def policy(mode: str, **kwargs) -> TurnPolicy:
    return TurnPolicy(Clock(0.0), mode, gap_s=0.5, length_s=2.0, reaction_steps=4, **kwargs)


def played(p: TurnPolicy, on_s: float, off_s: float, resumes: bool = True) -> None:
    """A note: key down at ``on_s`` (after silence when ``resumes``), up at ``off_s``."""
    p.human_event(on_s, resumes=resumes)
    p.sound(keys_down=True, pedal_holds=False)
    p.human_struck(ai_sounding=False)
    p.human_event(off_s)
    p.sound(keys_down=False, pedal_holds=False)


def test_call_answers_only_after_the_gap_with_every_key_up():
    p = policy("call")
    assert not p.active and p.state() == "listening" and p.answer_due_s() is None
    p.human_event(1.0)
    p.sound(keys_down=True, pedal_holds=False)
    assert not p.human_struck(ai_sounding=False)
    assert p.answer_due_s() is None, "a key still down"
    p.human_event(1.2)  # its note-off
    p.sound(keys_down=False, pedal_holds=False)
    assert p.answer_due_s() == pytest.approx(1.7)
    assert not p.maybe_answer(1.6), "inside the gap"
    assert p.maybe_answer(1.8)
    assert p.active and p.state() == "answering"
    assert p.end_step == 180 + 4 + 200  # now + reaction + 2 s of steps: then it looks for a breath
    assert p.grace_steps == 200
    assert p.answer_due_s() is None


def test_the_phrase_is_over_when_the_pedal_comes_up_not_at_the_last_key_up():
    p = policy("call")
    played(p, 1.0, 1.2)
    p.sound(keys_down=False, pedal_holds=True)  # the pedal holds the note on
    assert p.answer_due_s() == pytest.approx(1.2 + PEDAL_RING_S + 0.5), "held sound fades first"
    assert not p.maybe_answer(2.0), "the pedal still holds the harmony"
    p.human_event(2.5)  # the pedal comes up
    p.sound(keys_down=False, pedal_holds=False)
    assert not p.maybe_answer(2.9)
    assert p.maybe_answer(3.01)


def test_the_gap_outlasts_the_phrases_own_rests():
    p = policy("call")
    played(p, 0.0, 0.2)
    played(p, 0.9, 1.1)  # a rest of 0.7 s inside the phrase: longer than the 0.5-s gap
    assert p.gap_now_s == pytest.approx(ADAPTIVE_GAP * 0.7)
    assert not p.maybe_answer(1.1 + 0.7), "a rest as long as the phrase's own is no end"
    assert p.maybe_answer(1.1 + ADAPTIVE_GAP * 0.7 + 0.01)
    assert p.gap_now_s == 0.5, "the next phrase starts afresh"
    played(p, 10.0, 10.1)
    played(p, 11.1, 11.3)  # a rest of a second: capped at MAX_GAP_FACTOR x the gap
    assert p.gap_now_s == pytest.approx(0.5 * MAX_GAP_FACTOR)


def test_call_answer_ends_when_the_human_plays_again():
    p = policy("call")
    played(p, 0.0, 0.1)
    assert p.maybe_answer(1.0)
    assert p.human_struck(ai_sounding=False), "the AI must stop"
    assert not p.active and p.end_step is None
    assert p.human_struck(ai_sounding=True), "its notes still sounding: released too"


def test_answer_now_starts_at_once():
    p = policy("call")
    assert p.answer_now(0.3) and p.answering
    assert not p.answer_now(0.4), "already answering"


def test_duet_waits_for_the_first_note_then_plays_along():
    p = policy("duet")
    assert not p.active and p.state() == "waiting"
    assert not p.human_struck(ai_sounding=True), "duet never stops the AI"
    assert p.active and p.state() == "playing" and p.end_step is None


def test_duet_rounds_off_once_the_pianist_has_stopped_and_waits_for_them():
    p = policy("duet")
    played(p, 0.0, 0.5)
    assert not p.maybe_rest(2.4)
    assert p.maybe_rest(2.6) and p.end_step == 260 and p.grace_steps == round(DUET_GRACE_S * 100)
    assert p.active and p.state() == "playing", "it plays on to a breath"
    p.answer_done()  # the stream has rounded off
    assert not p.active and p.state() == "waiting"
    p.human_struck(ai_sounding=False)
    assert p.active and p.end_step is None


def test_duet_plays_on_when_the_pianist_comes_back_before_it_has_rounded_off():
    p = policy("duet")
    played(p, 0.0, 0.5)
    assert p.maybe_rest(3.0)
    played(p, 3.2, 3.4)
    assert p.active and p.end_step is None


def test_solo_plays_alone_and_does_not_hear_the_keyboard():
    p = policy("solo")
    assert p.active and not p.hears_human and p.state() == "playing"


def test_stopped_plays_in_no_mode_and_mode_changes_start_afresh():
    p = policy("duet", playing=False)
    p.human_struck(False)
    assert not p.active and p.state() == "stopped"
    p.playing = True
    assert p.active
    p.set_mode("call")
    assert not p.active and not p.heard_since_answer
    with pytest.raises(ValueError, match="mode must be one of"):
        p.set_mode("jazz")
