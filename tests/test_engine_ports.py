"""The engine's MIDI ports on real JACK ports (perfjam.live.ports): a replugged keyboard plays
again within tens of ms, an unplugged one lets its notes ring out (no All Sound Off), what it
sent just before going away is still played and released, and new MIDI channels release what
sounds on the old ones."""

from __future__ import annotations

import os
import queue
import time

import jackd
import pytest

pytestmark = pytest.mark.jack


def _voices_after(synth, seconds: float) -> int:
    time.sleep(seconds)
    return synth.active_voice_count()


def test_a_replugged_keyboard_plays_again_within_tens_of_ms(jam_rig, engine_models):
    synth = jam_rig.synth()
    engine = jam_rig.engine(engine_models["dense"], synth=synth, mode="call")  # hot-plug every 0.5 s
    jam_rig.send(0x90, 60, 100)
    assert jam_rig.wait_for(lambda: (0, 60) in synth.sounding_notes(), 2.0)
    jam_rig.send(0x80, 60, 0)
    jam_rig.keyboard.close()
    assert jam_rig.wait_for(lambda: engine.status().midi_in_state == "disconnected", 3.0)
    replugged = time.perf_counter()
    jam_rig.keyboard = jam_rig.midi_io.MidiOutput("keys", api="jack", virtual=True,
                                                  client_name=jam_rig.kb_client)
    heard = None
    while time.perf_counter() - replugged < 2.0 and heard is None:
        jam_rig.send(0x90, 62, 100)
        time.sleep(0.002)
        if (0, 62) in synth.sounding_notes():
            heard = time.perf_counter() - replugged
    jam_rig.send(0x80, 62, 0)
    assert heard is not None and heard < 0.2, f"replug -> first note {heard}"


def test_an_unplugged_keyboard_lets_its_notes_ring_out(jam_rig, engine_models):
    from perfjam.synth import SHIPPED_SOUNDFONT, Synth, SynthConfig

    synth = Synth(SynthConfig(soundfont=SHIPPED_SOUNDFONT, audio_drivers=("jack",), reverb=False,
                              client_name=f"synth{jam_rig.kb_client}", jack_autoconnect=False))
    jam_rig.synths.append(synth)
    assert synth.start(), "FluidSynth renders through JACK (voices end only when rendered)"
    engine = jam_rig.engine(engine_models["dense"], synth=synth, mode="call")
    jam_rig.send(0xB0, 64, 127)
    jam_rig.send(0x90, 60, 100)
    jam_rig.send(0x90, 64, 100)  # sent right before the cable goes: still played, then released
    jam_rig.keyboard._sounding.clear()  # the cable is pulled: no note-offs from the keyboard
    jam_rig.keyboard._played_on.clear()  # (nor its All Notes Off at close)
    jam_rig.keyboard.close()
    assert jam_rig.wait_for(lambda: engine.status().midi_in_state == "disconnected", 3.0)
    assert jam_rig.wait_for(lambda: not synth.sounding_notes(), 1.0), "the held notes end"
    assert _voices_after(synth, 0.05) > 0, "released (note-off, pedal up), not cut by All Sound Off"
    assert engine.status().events_in == 3
    heard = [(h.pitch, h.is_on) for h in engine.heard() if h.source == "human"]
    assert sorted(heard) == [(60, False), (60, True), (64, False), (64, True)], heard
    engine.panic()
    assert jam_rig.wait_for(lambda: synth.active_voice_count() == 0, 1.0), "panic cuts everything"


def test_new_midi_channels_release_what_sounds_on_the_old_ones_and_play_on_the_new(jam_rig, engine_models):
    """The window's Audio and MIDI settings change MIDI thru and the AI's channel while it plays."""
    engine = jam_rig.engine(engine_models["dense"], synth=jam_rig.synth(), mode="duet",
                            midi={"thru": True, "thru_channel": 1, "out_channel": 0})
    jam_rig.send(0x90, 48, 90)  # held through the change
    assert jam_rig.wait_for(lambda: 48 in jam_rig.sounding(channel=1), 3.0), "thru on channel 2"
    assert jam_rig.wait_for(lambda: jam_rig.sounding(channel=0), 5.0), "the AI plays on channel 1"
    engine.set_midi_channels(out_channel=3, thru=True, thru_channel=5)
    assert jam_rig.wait_for(lambda: not jam_rig.sounding(channel=1), 2.0), "the old thru channel is released"
    assert jam_rig.wait_for(lambda: not jam_rig.sounding(channel=0), 2.0), "the old AI channel is released"
    changed = time.perf_counter()
    jam_rig.send(0x90, 50, 90)
    assert jam_rig.wait_for(lambda: 50 in jam_rig.sounding(channel=5), 3.0), "thru on its new channel"
    assert jam_rig.wait_for(lambda: jam_rig.notes(channel=3, since=changed), 5.0), "the AI on its new one"
    assert not [n for n in jam_rig.notes(channel=0, since=changed) if n[2]], "no AI note-on on the old one"
    jam_rig.send(0x80, 48, 0)
    jam_rig.send(0x80, 50, 0)
    engine.set_midi_channels(out_channel=3, thru=False, thru_channel=5)
    assert jam_rig.wait_for(lambda: engine.query(lambda loop: loop.outlets.midi.thru) is False, 2.0)
    off = time.perf_counter()
    jam_rig.send(0x90, 52, 90)
    time.sleep(0.3)
    assert not [n for n in jam_rig.notes(channel=5, since=off) if n[2]], "thru off: your notes stay here"
    with pytest.raises(ValueError):
        engine.set_midi_channels(out_channel=16, thru=False, thru_channel=0)


@pytest.mark.parametrize("realtime", [False, True], ids=["server-without-realtime", "realtime-server"])
def test_a_jack_server_without_realtime_scheduling_is_reported_once(realtime, tmp_path, monkeypatch):
    from perfjam.live.config import MidiSettings
    from perfjam.live.ports import NOT_REALTIME_JACK, EnginePorts

    name = f"perfjam-rt{int(realtime)}-{os.getpid()}"
    with open(tmp_path / "jackd.log", "w") as log:
        proc = jackd.start(name, log, realtime=realtime)
    try:
        if realtime and "Cannot use real-time scheduling" in (tmp_path / "jackd.log").read_text():
            pytest.skip("this machine does not allow realtime scheduling (jackd -R fell back)")
        monkeypatch.setenv("JACK_DEFAULT_SERVER", name)
        monkeypatch.setenv("JACK_NO_START_SERVER", "1")
        said: list[tuple] = []
        ports = EnginePorts(queue.SimpleQueue(), MidiSettings(api="jack"), poll_ms=0.5,
                            hotplug_interval_s=0.5, on_error=lambda *args: said.append(args))
        try:
            for _ in range(2):  # a replug opens a new client: still said once
                ports.open_input("perfjam-in", virtual=True, raise_errors=True)
                ports.open_output("perfjam-out", virtual=True, raise_errors=True)
                assert ports.input is not None and ports.output is not None
        finally:
            ports.close()
    finally:
        jackd.stop(proc)
    assert said == ([] if realtime else [(NOT_REALTIME_JACK, "warning")])
