"""The sustain pedal and the human-side safety nets, through real JACK ports (dummy backend).

A continuous (half-)pedal sends CC64 every 10-20 ms while the foot moves. Only a pedal change
that changes what the model hears may touch the model: such a stream must not freeze the AI
(its event rate stays within 20 % of the same run without pedal) nor make its notes overrun
the length limit. A human note whose note-off never comes, or that still sounds when the input
goes away, is released, and the take shows it ending then.
"""

from __future__ import annotations

import threading
import time

import mido
import pytest

from perfjam.engine import ErrorReport

pytestmark = pytest.mark.jack

CHORD = (48, 55, 64)
MAX_NOTE_S = 1.0


def _pedal_stream(rig, stop: threading.Event, interval_s: float, crossing: bool) -> None:
    """CC64 every ``interval_s`` until ``stop``: values below the threshold that wobble (a foot
    resting on a half pedal), or with ``crossing`` a foot going down and up every ~0.5 s."""
    i = 0
    while not stop.is_set():
        if crossing:
            value = 20 + (i * 9) % 100  # 20 .. 119: crosses 64 twice a cycle of ~11 messages
        else:
            value = 10 + (i * 7) % 40  # 10 .. 49: never down
        rig.send(0xB0, 64, value)
        i += 1
        time.sleep(interval_s)


def _ai_notes_during(rig, engine_model, mode: str, pedal: str | None, seconds: float) -> list:
    """Start an engine, play a chord (call: play and let go, so that it answers), then for
    ``seconds`` send the pedal stream (None: no pedal); returns the AI's notes received then."""
    engine = rig.engine(engine_model, mode=mode, gap_ms=300.0, response_length_s=seconds + 2.0,
                        max_note_s=MAX_NOTE_S, hotplug_interval_s=0.1)
    for pitch in CHORD:
        rig.send(0x90, pitch, 90)
    time.sleep(0.2)
    for pitch in CHORD:
        rig.send(0x80, pitch, 0)
    if mode == "call":
        assert rig.wait_for(lambda: engine.status().state == "answering", 3.0)
    start = time.perf_counter()
    stop = threading.Event()
    pedaller = None
    if pedal is not None:
        pedaller = threading.Thread(target=_pedal_stream, args=(rig, stop, 0.015, pedal == "crossing"))
        pedaller.start()
    time.sleep(seconds)
    stop.set()
    if pedaller is not None:
        pedaller.join()
    end = time.perf_counter()
    engine.set_playing(False)
    time.sleep(0.2)
    notes = rig.notes()  # AI channel 0 on the listener
    engine.stop()
    rig.received.clear()
    return [n for n in notes if start <= n[0] <= end], notes


def _longest_note_s(notes) -> float:
    opened: dict[int, float] = {}
    longest = 0.0
    for t, pitch, is_on in notes:
        if is_on:
            if pitch in opened:
                longest = max(longest, t - opened[pitch])
            opened[pitch] = t
        elif pitch in opened:
            longest = max(longest, t - opened.pop(pitch))
    return longest


@pytest.mark.parametrize("mode, pedal", [("duet", "below"), ("duet", "crossing"), ("call", "below")])
def test_a_dense_pedal_stream_does_not_freeze_the_ai(jam_rig, engine_models, mode, pedal):
    seconds = 3.0
    plain, _ = _ai_notes_during(jam_rig, engine_models["dense"], mode, None, seconds)
    pedalled, everything = _ai_notes_during(jam_rig, engine_models["dense"], mode, pedal, seconds)
    plain_ons = sum(1 for n in plain if n[2])
    pedal_ons = sum(1 for n in pedalled if n[2])
    assert plain_ons >= 10, "the reference run plays"
    assert pedal_ons >= 0.8 * plain_ons, (pedal_ons, plain_ons)
    assert _longest_note_s(everything) <= MAX_NOTE_S + 0.05


def test_a_human_note_without_note_off_is_released_and_reported(jam_rig, engine_models, tmp_path):
    synth = jam_rig.synth()
    engine = jam_rig.engine(engine_models["dense"], synth=synth, mode="call", human_stuck_note_s=0.5,
                            midi={"thru": True, "thru_channel": 1})
    take = tmp_path / "take.mid"
    engine.start_recording(take)
    jam_rig.send(0x90, 62, 100)  # and no note-off, ever
    struck = time.perf_counter()
    assert jam_rig.wait_for(lambda: (0, 62) in synth.sounding_notes(), 2.0)
    assert jam_rig.wait_for(lambda: (0, 62) not in synth.sounding_notes(), 3.0)
    released = time.perf_counter() - struck
    assert 0.5 <= released <= 1.5
    def thru() -> list:
        return [(p, on) for _t, p, on in jam_rig.notes(channel=1)]

    assert jam_rig.wait_for(lambda: len(thru()) >= 2, 1.0)
    assert thru() == [(62, True), (62, False)]
    assert any(isinstance(r, ErrorReport) and "released D4" in r.message for r in engine.drain_reports())
    engine.stop_recording()
    engine.stop()
    human = _track_notes(take, "Human")
    assert len(human) == 1 and human[0][0] == 62 and 0.4 <= human[0][2] - human[0][1] <= 1.5


def test_the_take_shows_human_notes_ending_when_the_input_goes(jam_rig, engine_models, tmp_path):
    engine = jam_rig.engine(engine_models["dense"], mode="call", hotplug_interval_s=0.1)
    take = tmp_path / "take.mid"
    engine.start_recording(take)
    time.sleep(0.2)
    jam_rig.send(0xB0, 64, 127)
    jam_rig.send(0x90, 60, 100)
    time.sleep(0.3)
    jam_rig.keyboard.close()  # unplugged with the key and the pedal down
    assert jam_rig.wait_for(lambda: engine.status().midi_in_state == "disconnected", 3.0)
    time.sleep(1.5)  # the outage
    engine.stop_recording()
    engine.stop()
    human = _track_notes(take, "Human")
    assert len(human) == 1
    pitch, start_s, end_s = human[0]
    assert pitch == 60 and end_s - start_s < 0.3 + 0.5, "ends when the port went, not at the stop"


def _track_notes(path, name: str) -> list[tuple[int, float, float]]:
    """(pitch, start_s, end_s) of a recorded track, the sustain pedal not applied."""
    midi = mido.MidiFile(path)
    track = next(t for t in midi.tracks if t.name == name)
    tempo = 500000
    t_s, opened, out = 0.0, {}, []
    for msg in track:
        t_s += mido.tick2second(msg.time, midi.ticks_per_beat, tempo)
        if msg.type == "note_on" and msg.velocity > 0:
            opened[msg.note] = t_s
        elif msg.type in ("note_off", "note_on") and msg.note in opened:
            out.append((msg.note, opened.pop(msg.note), t_s))
    return out


def test_forced_releases_survive_the_rollbacks_of_dense_playing(jam_rig, engine_models):
    """A model that never releases a note by itself, in duet with a human playing a note every
    ~0.2 s and a pedal crossing the threshold: every rollback drops the unsent look-ahead, forced
    releases included; they come back at their own time, so no AI note outlives the limit."""
    limit_s = 0.5
    engine = jam_rig.engine(engine_models["holding"], mode="duet", max_note_s=limit_s)
    stop = threading.Event()
    pedaller = threading.Thread(target=_pedal_stream, args=(jam_rig, stop, 0.015, True))
    pedaller.start()
    try:
        for i in range(20):
            pitch = 40 + (i * 5) % 12
            jam_rig.send(0x90, pitch, 80)
            time.sleep(0.08 + 0.01 * (i % 5))
            jam_rig.send(0x80, pitch, 0)
            time.sleep(0.09 + 0.013 * (i % 7))
    finally:
        stop.set()
        pedaller.join()
    engine.set_playing(False)
    time.sleep(0.2)
    notes = jam_rig.notes()
    assert sum(1 for n in notes if n[2]) >= 5, "the AI played along"
    assert _longest_note_s(notes) <= limit_s + 0.03


def test_the_pedal_is_reported_when_it_changes_only(jam_rig, engine_models):
    from perfjam.engine import PedalReport

    engine = jam_rig.engine(engine_models["dense"], mode="call")
    for value in (0, 10, 70, 90, 127, 40, 20, 0, 100):
        jam_rig.send(0xB0, 64, value)
        time.sleep(0.01)
    reports = []

    def three() -> bool:
        reports.extend(r.down for r in engine.drain_reports() if isinstance(r, PedalReport))
        return len(reports) >= 3

    assert jam_rig.wait_for(three, 2.0)
    time.sleep(0.1)
    three()
    assert reports == [True, False, True]
