"""What a keyboard (or a faulty interface, or a buggy MIDI program) sends never stops the AI: a
message with a data byte over 127 or a wrong length is dropped at the input, counted and reported
once; All Notes Off / All Sound Off end the human's notes in the key state, the synth and the take;
note-offs of keys that are not down leave the model (and the AI's look-ahead) untouched. Real JACK
ports, a real FluidSynth, the real engine."""

from __future__ import annotations

import time

import mido
import pytest

from perfjam.engine import ErrorReport
from perfjam.midi_io.kinds import well_formed

pytestmark = pytest.mark.jack

MALFORMED = [
    (0x90, 200, 90),  # a pitch over 127
    (0x90, 60, 200),  # a velocity over 127
    (0xB0, 7, 255),  # a controller value over 127
    (0xE0, 130, 64),  # a pitch bend byte over 127
    (0x90, 60),  # a note-on cut short
    (0xC0, 5, 7),  # a program change with two data bytes
]
TOO_LONG = (0x80, 60, 0, 0)  # (rtmidi refuses to send it)


def test_well_formed_messages_have_their_kinds_length_and_data_bytes_under_128():
    for message in [(0x90, 60, 90), (0x80, 60, 0), (0xB0, 64, 127), (0xE0, 0, 64), (0xC0, 5), (0xD0, 90),
                    (0xF8,), (0xF2, 1, 2), (0xF0, 1, 2, 0xF7)]:
        assert well_formed(message), message
    for message in [*MALFORMED, TOO_LONG, (60, 90), (0xF8, 1), (0xF4,), (0xF0, 1, 200, 0xF7), (0xF0, 1)]:
        assert not well_formed(message), message


def _errors(engine) -> list[ErrorReport]:
    return [r for r in engine.drain_reports() if isinstance(r, ErrorReport)]


def test_malformed_messages_are_dropped_counted_and_never_stop_the_ai(jam_rig, engine_models):
    synth = jam_rig.synth()
    engine = jam_rig.engine(engine_models["dense"], synth=synth, mode="duet", note_reports=False)
    jam_rig.play([(60, 0.1, 0.1)])
    assert jam_rig.wait_for(lambda: jam_rig.notes(), 5.0), "the AI plays"
    for _ in range(5):
        for message in MALFORMED:
            jam_rig.send(*message)
            time.sleep(0.005)
    jam_rig.play([(64, 0.1, 0.1)])  # a real note among them is played and heard
    burst_end = time.perf_counter()
    assert jam_rig.wait_for(lambda: engine.stats()["malformed_midi_dropped"] == 5 * len(MALFORMED), 5.0)
    assert jam_rig.wait_for(lambda: any(t > burst_end + 0.5 and on for t, _p, on in jam_rig.notes()), 5.0), \
        "the AI plays on after the burst"
    status = engine.status()
    assert status.playing and status.state == "playing"
    assert [(n.pitch, n.is_on) for n in engine.heard() if n.source == "human"] == [(60, True), (60, False),
                                                                                   (64, True), (64, False)]
    errors = [e for e in _errors(engine) if "malformed" in e.message or e.message.startswith("engine")]
    assert len(errors) == 1 and errors[0].level == "warning", errors
    assert "malformed messages ignored so far" in errors[0].message


@pytest.mark.parametrize("cc", [123, 120])
def test_all_notes_off_from_the_keyboard_ends_the_humans_notes_everywhere(jam_rig, engine_models, tmp_path,
                                                                         cc):
    synth = jam_rig.synth()
    engine = jam_rig.engine(engine_models["dense"], synth=synth, mode="call", gap_ms=300)
    take = tmp_path / "take.mid"
    engine.start_recording(take)
    time.sleep(0.1)
    for pitch in (60, 64, 67):
        jam_rig.send(0x90, pitch, 90)
    assert jam_rig.wait_for(lambda: {(0, 60), (0, 64), (0, 67)} <= synth.sounding_notes(), 2.0)
    time.sleep(0.3)
    jam_rig.keyboard._sounding.clear()  # the keyboard's own panic: no note-offs, only the CC
    off_at = jam_rig.send(0xB0, cc, 0)
    assert jam_rig.wait_for(lambda: not synth.sounding_notes(), 2.0), "the synth's human notes end"
    assert jam_rig.wait_for(lambda: engine.status().state == "answering", 3.0), \
        "the keys are up: the AI answers after the gap (not after the 30-s stuck-key net)"
    answered_at = time.perf_counter()
    assert answered_at - off_at < 2.0
    engine.stop_recording()
    assert jam_rig.wait_for(take.exists, 10.0)
    human = mido.MidiFile(take).tracks[1]
    now, ends, ccs = 0, {}, []
    for msg in human:
        now += msg.time
        if msg.type == "note_off" or msg.type == "note_on" and msg.velocity == 0:
            ends[msg.note] = now
        elif msg.type == "control_change":
            ccs.append((msg.control, now))
    assert ccs == [(cc, ends[60])], "the CC itself is recorded where the notes end"
    assert set(ends) == {60, 64, 67} and len(set(ends.values())) == 1
    assert 250 <= ends[60] <= 1500, f"the chord ends at the CC ({ends[60]} ms), not at the take's end"


def test_note_offs_of_keys_not_down_leave_the_duets_look_ahead_alone(jam_rig, engine_models):
    engine = jam_rig.engine(engine_models["dense"], mode="duet", note_reports=False)
    jam_rig.play([(60, 0.1, 0.1)])
    assert jam_rig.wait_for(lambda: jam_rig.notes(), 5.0)
    history = len(engine.history())
    start = time.perf_counter()
    for i in range(300):  # a faulty keyboard: 100 note-offs a second for keys that are up
        jam_rig.send(0x80, 30 + i % 20, 0)
        time.sleep(0.01)
    end = time.perf_counter()
    ons = [t for t, _p, on in jam_rig.notes() if on and start <= t < end]
    assert len(ons) >= 10, f"the AI kept playing: {len(ons)} notes in {end - start:.1f} s"
    gaps = [b - a for a, b in zip([start, *ons], [*ons, end], strict=True)]
    assert max(gaps) < 1.5, f"no freeze: longest silence {max(gaps):.2f} s"
    assert engine.stats()["events_in"] >= 302 and len(engine.history()) > history
    assert not [n for n in engine.heard() if n.source == "human" and n.pitch != 60], \
        "the model heard none of them"
