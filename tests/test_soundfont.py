"""The shipped piano SoundFont: FluidSynth loads it, it plays in tune, and the script rebuilds it exactly."""

from __future__ import annotations

import importlib.util
import struct
import sys
from pathlib import Path

import fluidsynth
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SF2 = ROOT / "assets" / "soundfonts" / "perfjam-piano.sf2"
SAMPLE_RATE_HZ = 44100


def _load_script():
    spec = importlib.util.spec_from_file_location("make_soundfont", ROOT / "tools" / "make_soundfont.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


def dominant_hz(mono: np.ndarray, sample_rate_hz: int = SAMPLE_RATE_HZ) -> float:
    spectrum = np.abs(np.fft.rfft(mono * np.hanning(len(mono))))
    return float(np.fft.rfftfreq(len(mono), 1.0 / sample_rate_hz)[np.argmax(spectrum)])


@pytest.fixture(scope="module")
def fluid() -> fluidsynth.Synth:
    fs = fluidsynth.Synth(gain=0.5, samplerate=SAMPLE_RATE_HZ)
    sfid = fs.sfload(str(SF2))
    assert sfid >= 0, "FluidSynth could not load the shipped SoundFont"
    assert fs.program_select(0, sfid, 0, 0) == 0
    yield fs
    fs.delete()


def test_shipped_soundfont_is_small_riff_sfbk():
    data = SF2.read_bytes()
    assert data[:4] == b"RIFF" and data[8:12] == b"sfbk"
    assert struct.unpack("<I", data[4:8])[0] + 8 == len(data)
    assert len(data) < 2_000_000


@pytest.mark.parametrize("pitch", [45, 69, 81])  # A2, A4, A5: from different samples
def test_notes_sound_at_their_pitch(fluid: fluidsynth.Synth, pitch: int):
    fluid.noteon(0, pitch, 100)
    held = fluid.get_samples(SAMPLE_RATE_HZ // 2).reshape(-1, 2).astype(np.float64)
    fluid.noteoff(0, pitch)
    released = fluid.get_samples(SAMPLE_RATE_HZ).reshape(-1, 2).astype(np.float64)
    assert np.abs(held).max() > 1000  # clearly audible (int16 full scale 32767)
    expected_hz = 440.0 * 2 ** ((pitch - 69) / 12)
    assert dominant_hz(held.mean(axis=1)) == pytest.approx(expected_hz, rel=0.03)
    assert np.sqrt(np.mean(released[-4410:] ** 2)) < 0.01 * np.sqrt(np.mean(held**2))  # damped


def test_loud_notes_are_louder_than_soft_ones(fluid: fluidsynth.Synth):
    levels = []
    for velocity in (30, 110):
        fluid.noteon(0, 60, velocity)
        levels.append(np.abs(fluid.get_samples(8820).astype(np.float64)).max())
        fluid.noteoff(0, 60)
        fluid.get_samples(SAMPLE_RATE_HZ)
    assert levels[1] > 2.5 * levels[0]


def test_script_rebuilds_the_shipped_file_byte_for_byte():
    script = _load_script()
    assert script.make_soundfont_bytes() == SF2.read_bytes()


def test_sample_loops_are_seamless():
    sample = _load_script().synthesize_sample(60)
    data = sample.data.astype(np.int32)
    start, end = sample.loop_start, sample.loop_end
    assert np.array_equal(data[end : end + 8], data[start : start + 8])  # continuation after the loop
    step_at_wrap = abs(data[start] - data[end - 1])
    assert step_at_wrap <= 2 * np.abs(np.diff(data[start:end])).max()
