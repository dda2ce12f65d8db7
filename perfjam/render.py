"""Offline rendering to a 16-bit stereo WAV: notes (``render_notes_to_wav``) or a whole MIDI
file with its tempo map, pedal and program changes (``render_midi_to_wav``). FluidSynth itself
is reached through ``perfjam.synth``, its one home."""

from __future__ import annotations

import logging
import math
import wave
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from perfjam.codec.midifile import load_midi
from perfjam.synth import MIDI_CHANNELS, SynthError, check_channel, load_into, new_fluid, select_program

log = logging.getLogger(__name__)
RENDER_BLOCK_FRAMES = 4096


class NoteLike(Protocol):
    """What the renderer needs of a note (``perfjam.codec.events.Note`` fits); ``channel`` is optional."""

    pitch: int
    velocity: int
    start_s: float
    end_s: float


@dataclass(frozen=True)
class RenderResult:
    path: Path
    samples: np.ndarray  # int16, shape (frames, 2)
    sample_rate_hz: int
    duration_s: float
    peak: float  # 0..1 of full scale
    rms: float  # 0..1 of full scale


# A timed action: (time_s, order, kind, channel, a, b). Actions run sorted: for notes, order puts
# note-offs before note-ons at the same time; for MIDI files it is the message's index (file order).
_Action = tuple[float, int, str, int, int, int]


def _render_actions(
    actions: list[_Action],
    wav_path: str | Path,
    soundfont: str | Path | None,
    sample_rate_hz: int,
    end_s: float,
) -> RenderResult:
    fs = new_fluid(sample_rate_hz, 0.5, reverb=True, chorus=False)
    try:
        sfid, _ = load_into(fs, soundfont)
        for channel in range(MIDI_CHANNELS):
            select_program(fs, sfid, channel, 0)
        blocks: list[np.ndarray] = []
        frames_done = 0

        def render_until(frame: int) -> None:
            nonlocal frames_done
            while frames_done < frame:
                n = min(RENDER_BLOCK_FRAMES, frame - frames_done)
                blocks.append(fs.get_samples(n).reshape(-1, 2))
                frames_done += n

        for time_s, _order, kind, channel, a, b in sorted(actions):
            render_until(round(time_s * sample_rate_hz))
            if kind == "on":
                fs.noteon(channel, a, b)
            elif kind == "off":
                fs.noteoff(channel, a)
            elif kind == "cc":
                fs.cc(channel, a, b)
            elif kind == "program" and not select_program(fs, sfid, channel, a):
                log.warning("SoundFont has no program %d; channel %d keeps its program", a, channel)
        render_until(round(end_s * sample_rate_hz))
    finally:
        fs.delete()
    samples = np.concatenate(blocks) if blocks else np.zeros((0, 2), np.int16)
    levels = samples.astype(np.float64) / 32768.0
    peak = float(np.abs(levels).max()) if levels.size else 0.0
    rms = float(math.sqrt(np.mean(levels * levels))) if levels.size else 0.0
    path = Path(wav_path)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(sample_rate_hz)
        out.writeframes(samples.astype("<i2").tobytes())
    return RenderResult(path, samples, sample_rate_hz, len(samples) / sample_rate_hz, peak, rms)


def render_notes_to_wav(
    notes: Iterable[NoteLike],
    wav_path: str | Path,
    soundfont: str | Path | None = None,
    sample_rate_hz: int = 44100,
    tail_s: float = 1.0,
) -> RenderResult:
    """Render notes (channel 0 unless a note has ``channel``) offline to a 16-bit stereo WAV."""
    actions: list[_Action] = []
    end_s = 0.0
    for note in notes:
        channel = int(getattr(note, "channel", 0))
        check_channel(channel, pitch=note.pitch)
        velocity = max(1, min(127, int(note.velocity)))
        actions.append((max(0.0, note.start_s), 1, "on", channel, note.pitch, velocity))
        actions.append((max(note.start_s, note.end_s), 0, "off", channel, note.pitch, 0))
        end_s = max(end_s, note.end_s)
    return _render_actions(actions, wav_path, soundfont, sample_rate_hz, end_s + tail_s)


def render_midi_to_wav(
    midi_path: str | Path,
    wav_path: str | Path,
    soundfont: str | Path | None = None,
    sample_rate_hz: int = 44100,
    tail_s: float = 1.0,
) -> RenderResult:
    """Render a MIDI file (all tracks, tempo map, pedal, program changes) offline to a WAV."""
    try:
        midi = load_midi(midi_path)  # bounded before mido reads it
    except (OSError, EOFError, ValueError) as exc:
        raise SynthError(f"cannot read MIDI file {exc}") from exc
    actions: list[_Action] = []
    time_s = 0.0
    for index, msg in enumerate(midi):  # merged tracks, delta times in seconds
        time_s += msg.time
        if msg.type == "note_on" and msg.velocity > 0:
            actions.append((time_s, index, "on", msg.channel, msg.note, msg.velocity))
        elif msg.type in ("note_on", "note_off"):
            actions.append((time_s, index, "off", msg.channel, msg.note, 0))
        elif msg.type == "control_change":
            actions.append((time_s, index, "cc", msg.channel, msg.control, msg.value))
        elif msg.type == "program_change":
            actions.append((time_s, index, "program", msg.channel, msg.program, 0))
    return _render_actions(actions, wav_path, soundfont, sample_rate_hz, time_s + tail_s)
