"""The engine thread's pacing (perfjam.live.pacing.TurnPacer): how long it waits before each turn,
and the work slices that keep it from holding a CPU at real-time priority."""

from __future__ import annotations

import pytest

from perfjam.live.pacing import MAX_GUARD_S, TurnPacer

NOW = 100.0


def _pacer() -> TurnPacer:
    return TurnPacer(wait_cap_ms=50.0, spin_ms=1.0, lookahead_ms=300.0, work_slice_ms=1.0, pause_ms=0.2)


def _wait(pacer: TurnPacer, note_s=None, human_due_s=None, generating=False, horizon_s=NOW, answer_s=None):
    return pacer.wait_s(NOW, note_s, human_due_s, generating, horizon_s, answer_s)


def test_an_idle_engine_waits_up_to_its_cap():
    assert _wait(_pacer()) == pytest.approx(0.050)


def test_it_wakes_a_spin_before_the_next_ai_note():
    assert _wait(_pacer(), note_s=NOW + 0.010) == pytest.approx(0.009)


def test_a_behind_look_ahead_is_refilled_at_once():
    assert _wait(_pacer(), generating=True, horizon_s=NOW + 0.100) == 0.0  # 300 ms look-ahead wanted
    assert _wait(_pacer(), generating=True, horizon_s=NOW + 0.320) == pytest.approx(0.020)


def test_a_note_due_sooner_than_a_model_step_is_sent_before_generating():
    pacer = _pacer()  # guard 2 ms + spin 1 ms: a note due in 2.5 ms comes first
    assert _wait(pacer, note_s=NOW + 0.0025, generating=True, horizon_s=NOW) == pytest.approx(0.0015)


def test_the_human_step_is_heard_before_anything_is_generated():
    wait = _wait(_pacer(), human_due_s=NOW + 0.004, generating=True, horizon_s=NOW + 0.500)
    assert wait == pytest.approx(0.004)


def test_a_call_waits_for_its_answer_time():
    assert _wait(_pacer(), answer_s=NOW + 0.030) == pytest.approx(0.030)


def test_a_cut_turn_pauses_however_far_behind_generation_is():
    pacer = _pacer()
    pacer.begin_turn(NOW)
    assert pacer.slice_end_s == pytest.approx(NOW + 0.001)
    pacer.cut_turn()
    pacer.cut_turn()  # one turn, cut once
    assert pacer.cut_turns == 1
    assert _wait(pacer, generating=True, horizon_s=NOW) == pytest.approx(0.0002)
    assert _wait(pacer, generating=True, horizon_s=NOW) == 0.0  # the pause was for that one wait


def test_a_pause_never_runs_into_a_due_notes_spin():
    pacer = _pacer()
    pacer.cut_turn()
    assert _wait(pacer, note_s=NOW + 0.00105, generating=True) == pytest.approx(0.00005)
    pacer.cut_turn()
    assert _wait(pacer, note_s=NOW + 0.0005, generating=True) == 0.0  # already in its spin


def test_the_guard_follows_the_model_step_time_up_to_a_cap():
    pacer = _pacer()
    pacer.measured_step(0.0004)
    assert pacer.guard_s == pytest.approx(0.0007)
    pacer.measured_step(0.050)
    assert pacer.guard_s == MAX_GUARD_S
