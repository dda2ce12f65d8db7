"""perfjam.synth and perfjam.render with real FluidSynth: offline rendering, the live synth with and
without audio, its JACK audio lost and reopened, a switch of audio driver while it plays."""

from __future__ import annotations

import os
import subprocess
import time
import wave
from dataclasses import dataclass
from pathlib import Path

import jackd
import mido
import numpy as np
import pytest

from perfjam import synth as synth_module
from perfjam.codec.events import Note
from perfjam.render import render_midi_to_wav, render_notes_to_wav
from perfjam.synth import (
    NO_AUDIO,
    SHIPPED_SOUNDFONT,
    Synth,
    SynthConfig,
    SynthError,
    find_soundfont,
)

SR = 44100
PIANO = SHIPPED_SOUNDFONT  # small and always there: fast to load


def dominant_hz(mono: np.ndarray, sample_rate_hz: int = SR) -> float:
    spectrum = np.abs(np.fft.rfft(mono * np.hanning(len(mono))))
    return float(np.fft.rfftfreq(len(mono), 1.0 / sample_rate_hz)[np.argmax(spectrum)])


def rms(block: np.ndarray) -> float:
    return float(np.sqrt(np.mean(block.astype(np.float64) ** 2)))


def window(samples: np.ndarray, start_s: float, end_s: float) -> np.ndarray:
    return samples[round(start_s * SR) : round(end_s * SR)]


# --- offline rendering ------------------------------------------------------------------------------
def test_single_a4_renders_at_440_hz_after_silence_and_decays_after_release(tmp_path: Path):
    wav_path = tmp_path / "a4.wav"
    result = render_notes_to_wav([Note(69, 100, 0.5, 1.0)], wav_path, soundfont=PIANO, tail_s=1.0)
    samples = result.samples
    assert samples.dtype == np.int16 and samples.shape == (round(2.0 * SR), 2)
    assert result.duration_s == pytest.approx(2.0)
    assert 0.05 < result.peak <= 1.0 and 0 < result.rms < result.peak
    assert np.abs(window(samples, 0.0, 0.49)).max() <= 1  # silence (dither aside) before the first note
    held = window(samples, 0.55, 0.95)
    assert dominant_hz(held.mean(axis=1)) == pytest.approx(440.0, rel=0.03)
    tail = window(samples, 1.7, 2.0)
    assert rms(tail) < 0.02 * rms(held)  # released: decayed to (almost) nothing
    with wave.open(str(wav_path)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (2, 2, SR)
        on_disk = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2)
    assert np.array_equal(on_disk, samples)


def test_c_major_chord_has_its_energy_in_the_chord_range(tmp_path: Path):
    chord = [Note(pitch, 90, 0.0, 0.8) for pitch in (60, 64, 67)]
    result = render_notes_to_wav(chord, tmp_path / "chord.wav", soundfont=PIANO, tail_s=0.2)
    held = window(result.samples, 0.05, 0.75).mean(axis=1)
    assert rms(held) > 300
    assert 250.0 < dominant_hz(held) < 800.0  # C4 = 262 Hz .. G5 = 784 Hz (fundamentals, 2nd partials)


def test_notes_with_a_channel_attribute_are_played_on_that_channel(tmp_path: Path):
    @dataclass(frozen=True)
    class ChannelNote:
        pitch: int
        velocity: int
        start_s: float
        end_s: float
        channel: int

    notes = [ChannelNote(57, 100, 0.0, 0.5, channel=3)]
    result = render_notes_to_wav(notes, tmp_path / "ch.wav", soundfont=PIANO, tail_s=0.1)
    assert dominant_hz(window(result.samples, 0.05, 0.45).mean(axis=1)) == pytest.approx(220.0, rel=0.03)


def test_render_midi_file_with_sustain_pedal(tmp_path: Path):
    midi = mido.MidiFile(ticks_per_beat=500)  # tempo 500000 us/beat: one tick = 1 ms
    track = mido.MidiTrack()
    midi.tracks.append(track)
    track += [
        mido.MetaMessage("set_tempo", tempo=500000, time=0),
        mido.Message("program_change", channel=0, program=0, time=0),
        mido.Message("control_change", channel=0, control=64, value=127, time=200),
        mido.Message("note_on", channel=0, note=69, velocity=100, time=100),  # A4 at 0.3 s
        mido.Message("note_off", channel=0, note=69, velocity=0, time=200),  # key up at 0.5 s
        mido.Message("control_change", channel=0, control=64, value=0, time=500),  # pedal up at 1.0 s
    ]
    midi_path = tmp_path / "pedal.mid"
    midi.save(midi_path)
    result = render_midi_to_wav(midi_path, tmp_path / "pedal.wav", soundfont=PIANO, tail_s=0.8)
    samples = result.samples
    assert result.duration_s == pytest.approx(1.8, abs=0.01)
    assert np.abs(window(samples, 0.0, 0.29)).max() <= 1
    held = window(samples, 0.35, 0.5)
    assert dominant_hz(held.mean(axis=1)) == pytest.approx(440.0, rel=0.03)
    assert rms(window(samples, 0.85, 0.95)) > 0.2 * rms(held)  # the pedal holds it after key-up
    assert rms(window(samples, 1.6, 1.8)) < 0.02 * rms(held)  # and releases it


def test_render_rejects_a_broken_midi_file(tmp_path: Path):
    bad = tmp_path / "bad.mid"
    bad.write_bytes(b"not midi at all")
    with pytest.raises(SynthError, match="cannot read MIDI file"):
        render_midi_to_wav(bad, tmp_path / "bad.wav", soundfont=PIANO)


# --- soundfonts ------------------------------------------------------------------------------------
def test_find_soundfont_prefers_user_then_system_gm_then_shipped(tmp_path: Path, monkeypatch):
    mine = tmp_path / "mine.sf2"
    mine.write_bytes(b"RIFF")
    assert find_soundfont(mine) == mine
    with pytest.raises(SynthError, match="SoundFont not found"):
        find_soundfont(tmp_path / "missing.sf2")

    system, user = tmp_path / "system", tmp_path / "user"
    system.mkdir()
    user.mkdir()
    for name in ("aaa.sf2", "default-GM.sf2"):
        (system / name).write_bytes(b"RIFF")
    (user / "FluidR3_GM.sf2").write_bytes(b"RIFF")
    monkeypatch.setattr(synth_module, "SYSTEM_SOUNDFONT_DIRS", (str(system), str(user)))
    assert find_soundfont() == user / "FluidR3_GM.sf2"  # FluidR3_GM first, wherever it is
    (user / "FluidR3_GM.sf2").unlink()
    assert find_soundfont() == system / "default-GM.sf2"  # then default-GM
    (system / "default-GM.sf2").unlink()
    assert find_soundfont() == system / "aaa.sf2"  # then any SoundFont
    monkeypatch.setattr(synth_module, "SYSTEM_SOUNDFONT_DIRS", (str(tmp_path / "nowhere"),))
    assert find_soundfont() == SHIPPED_SOUNDFONT  # then PerfJam's own


def test_bad_soundfont_raises_a_clear_synth_error(tmp_path: Path):
    with pytest.raises(SynthError, match="SoundFont not found: .*nope.sf2"):
        Synth(SynthConfig(soundfont=tmp_path / "nope.sf2", audio_drivers=()))
    text = tmp_path / "text.sf2"
    text.write_text("this is not a soundfont")
    with pytest.raises(SynthError, match="not a SoundFont file"):
        Synth(SynthConfig(soundfont=text, audio_drivers=()))
    truncated = tmp_path / "truncated.sf2"
    truncated.write_bytes(PIANO.read_bytes()[:2000])
    with pytest.raises(SynthError, match="could not load SoundFont"):
        render_notes_to_wav([Note(60, 100, 0.0, 0.1)], tmp_path / "x.wav", soundfont=truncated)


# --- the live synth ---------------------------------------------------------------------------------
@pytest.mark.parametrize("drivers", [(), ("no-such-driver",)])
def test_live_synth_without_audio_still_plays_notes(drivers: tuple[str, ...]):
    with Synth(SynthConfig(soundfont=PIANO, audio_drivers=drivers)) as synth:
        assert synth.start() is False
        assert synth.audio_ok is False and synth.audio_status == NO_AUDIO == "no audio output"
        synth.note_on(0, 60, 100)
        synth.note_on(1, 64, 90)
        synth.note_on(1, 67, 90)
        synth.note_off(1, 67)
        assert synth.sounding_notes() == {(0, 60), (1, 64)}
        assert synth.active_voice_count() >= 2
        synth.note_on(1, 72, 0)  # velocity 0 is a note-off
        synth.all_notes_off(channel=1)
        assert synth.sounding_notes() == {(0, 60)}
        synth.all_notes_off()
        assert synth.sounding_notes() == set()
        with pytest.raises(ValueError, match="pitch"):
            synth.note_on(0, 128, 100)


def test_live_synth_programs_and_soundfont_switch(tmp_path: Path):
    with Synth(SynthConfig(soundfont=PIANO, audio_drivers=(), ai_program=40)) as synth:  # piano lacks 40
        synth.set_program(0, 0)
        with pytest.raises(SynthError, match="has no program 5"):
            synth.set_program(0, 5)
        synth.note_on(0, 60, 100)
        bad = tmp_path / "bad.sf2"
        bad.write_bytes(b"RIFF....sfbk garbage")
        with pytest.raises(SynthError, match="could not load SoundFont"):
            synth.load_soundfont(bad)
        assert synth.soundfont_path == PIANO and synth.sounding_notes() == {(0, 60)}  # unchanged
        assert synth.load_soundfont(PIANO) == PIANO  # a switch releases what sounds
        assert synth.sounding_notes() == set()
        synth.note_on(1, 60, 100)
        assert synth.active_voice_count() >= 1


@pytest.mark.jack
def test_live_synth_plays_through_jack(jack_server: str):
    name = f"pj-synth-{jack_server[-6:]}"
    with Synth(SynthConfig(soundfont=PIANO, audio_drivers=("jack",), client_name=name)) as synth:
        assert synth.start() is True
        assert synth.audio_ok and synth.audio_status == "audio: jack" and synth.audio_driver == "jack"
        ports = subprocess.run(["jack_lsp"], capture_output=True, text=True, timeout=5).stdout.split()
        assert f"{name}:left" in ports and f"{name}:right" in ports
        synth.note_on(0, 60, 100)
        synth.all_notes_off()
        assert synth.sounding_notes() == set()


@pytest.mark.jack
def test_live_synth_falls_back_to_the_next_driver(jack_server: str):
    config = SynthConfig(soundfont=PIANO, audio_drivers=("no-such-driver", "jack"), client_name="pj-fallback")
    with Synth(config) as synth:
        assert synth.start() and synth.audio_status == "audio: jack"


@pytest.mark.jack
def test_live_synth_says_its_jack_server_went_away_and_reconnects_when_it_returns(tmp_path, monkeypatch):
    name = f"pj-synth-restart-{os.getpid()}"
    monkeypatch.setenv("JACK_DEFAULT_SERVER", name)
    monkeypatch.setenv("JACK_NO_START_SERVER", "1")
    with open(tmp_path / "jackd.log", "wb") as log:
        server = jackd.start(name, log)
        synth = Synth(SynthConfig(soundfont=PIANO, audio_drivers=("jack",), client_name="pj-comeback"))
        try:
            assert synth.start() and not synth.audio_lost
            jackd.stop(server)
            deadline = time.monotonic() + 5
            while not synth.audio_lost and time.monotonic() < deadline:
                time.sleep(0.05)
            assert synth.audio_lost and synth.audio_status == "audio lost: jack" and not synth.audio_ok
            assert synth.reconnect_audio() is False  # no server yet: still lost, still said
            assert synth.audio_lost and synth.audio_status == "audio lost: jack"
            synth.note_on(1, 60, 90)  # notes go on silently meanwhile
            server = jackd.start(name, log)
            assert synth.reconnect_audio() is True
            assert synth.audio_ok and synth.audio_status == "audio: jack"
            assert {"pj-comeback:left", "pj-comeback:right"} <= set(jackd.ports())
            assert synth.sounding_notes() == {(1, 60)}
        finally:
            synth.close()
            jackd.stop(server)


@pytest.mark.jack
def test_live_synth_switches_audio_driver_while_it_plays(jack_server: str):
    with Synth(SynthConfig(soundfont=PIANO, audio_drivers=("jack",), client_name="pj-switch")) as synth:
        assert synth.start()
        synth.note_on(1, 64, 80)
        assert synth.restart_audio(()) is False  # "no audio": silent, MIDI out only
        assert synth.audio_status == NO_AUDIO and "pj-switch:left" not in jackd.ports()
        assert synth.restart_audio(("no-such-driver", "jack")) is True
        assert synth.audio_driver == "jack" and "pj-switch:left" in jackd.ports()
        assert synth.sounding_notes() == {(1, 64)}  # the note plays on through the switch


def test_trying_audio_drivers_that_fail_prints_nothing_and_keeps_the_reasons(tmp_path):
    """No sound card, no JACK server (this machine, or a server with nothing running): FluidSynth's
    tries of its drivers used to print eight ALSA lines and five JACK lines on the terminal."""
    import sys

    script = ("from perfjam.synth import Synth, SynthConfig, audio_failure_details\n"
              "s = Synth(SynthConfig(audio_drivers=('jack', 'alsa')))\n"
              "print('audio:', 'opened' if s.start() else 'silent')\n"
              "print('\\n'.join(audio_failure_details()))\n")
    env = {**os.environ, "JACK_DEFAULT_SERVER": f"pj-none-{os.getpid()}", "JACK_NO_START_SERVER": "1",
           "ALSA_CONFIG_PATH": str(tmp_path / "no-alsa.conf")}  # an ALSA with no devices at all
    (tmp_path / "no-alsa.conf").write_text("")
    run = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert "audio: silent" in run.stdout.splitlines()  # (with CI set, pyfluidsynth prints its library)
    assert run.stderr == "", run.stderr  # nothing on the terminal...
    assert "Failed to connect to Jack server." in run.stdout  # ...and the reasons are kept for Details
    assert any(line.startswith("ALSA lib") or "audio device" in line for line in run.stdout.splitlines())
