"""perfjam.live.policy.TurnPolicy without threads, ports or a model: who plays when."""

from __future__ import annotations

import pytest

from perfjam.live.clock import Clock
from perfjam.live.policy import TurnPolicy


def policy(mode: str, **kwargs) -> TurnPolicy:
    return TurnPolicy(Clock(0.0), mode, gap_s=0.5, length_s=2.0, reaction_steps=4, **kwargs)


def test_call_answers_only_after_the_gap_with_every_key_up():
    p = policy("call")
    assert not p.active and p.state() == "listening" and p.answer_due_s() is None
    p.human_note(1.0)
    assert not p.human_struck(ai_sounding=False)
    p.human_note(1.2)  # its note-off
    assert p.answer_due_s() == pytest.approx(1.7)
    assert not p.maybe_answer(1.6, keys_down=False), "inside the gap"
    assert not p.maybe_answer(1.8, keys_down=True), "a key still down"
    assert p.maybe_answer(1.8, keys_down=False)
    assert p.active and p.state() == "answering"
    assert p.end_step == 180 + 4 + 200  # now + reaction + 2 s of steps
    assert p.answer_due_s() is None


def test_call_answer_ends_when_the_human_plays_again():
    p = policy("call")
    p.human_note(0.0)
    p.human_struck(False)
    assert p.maybe_answer(1.0, keys_down=False)
    assert p.human_struck(ai_sounding=False), "the AI must stop"
    assert not p.active and p.end_step is None
    assert p.human_struck(ai_sounding=True), "its notes still sounding: released too"


def test_duet_waits_for_the_first_note_then_plays_along():
    p = policy("duet")
    assert not p.active and p.state() == "waiting"
    assert not p.human_struck(ai_sounding=True), "duet never stops the AI"
    assert p.active and p.state() == "playing" and p.end_step is None


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
