"""FluidSynth: the live synth (named audio drivers with fallback), offline rendering to WAV, and
SoundFont lookup. The only module that imports ``fluidsynth`` (pyfluidsynth).

Live use: ``Synth(SynthConfig()).start()`` opens the first audio driver that works; without one,
``audio_ok`` is False and everything else (notes, programs, soundfonts) keeps working silently.
FluidSynth's own MIDI driver is never started (MIDI comes through ``perfjam.midi_io``).
A ``Synth`` is driven by the engine's thread, and a take's playback may drive other channels
of it from its own (``perfjam.playback``): FluidSynth itself is thread-safe, and the wrapper's
note bookkeeping is a set read only through copies.
"""

from __future__ import annotations

import atexit
import logging
import math
import os
import wave
from collections import deque
from collections.abc import Iterable
from ctypes import CFUNCTYPE, c_char_p, c_int, c_void_p, cast
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, Self

import fluidsynth
import mido
import numpy as np

from perfjam.audio_drivers import DEFAULT_AUDIO_DRIVERS, DEFAULT_JACK_NAME  # the driver order
from perfjam.live.realtime import threads_started_at

log = logging.getLogger(__name__)

ASSETS_DIR = Path(__file__).resolve().parent.parent / "assets"
SHIPPED_SOUNDFONT = ASSETS_DIR / "soundfonts" / "perfjam-piano.sf2"
SYSTEM_SOUNDFONT_DIRS = ("/usr/share/sounds/sf2", "/usr/share/soundfonts", "~/.local/share/soundfonts")
PREFERRED_SOUNDFONTS = ("FluidR3_GM.sf2", "default-GM.sf2")
NO_AUDIO = "no audio output"
MIDI_CHANNELS = 16
CC_SUSTAIN, CC_PAN, CC_ALL_SOUND_OFF, CC_ALL_NOTES_OFF = 64, 10, 120, 123
RENDER_BLOCK_FRAMES = 4096


class SynthError(RuntimeError):
    """A SoundFont that cannot be found or loaded, or a program it does not have."""


# FluidSynth logs to stderr by default; its messages go to a small ring instead, quoted in errors.
# The callback only appends, as it may run on FluidSynth's threads.
_FLUID_LOG: deque[str] = deque(maxlen=32)
_LOG_FUNC = CFUNCTYPE(None, c_int, c_char_p, c_void_p)
_fluid_log_callback = _LOG_FUNC(
    lambda _level, msg, _data: _FLUID_LOG.append((msg or b"").decode("utf-8", "replace"))
)


def _set_fluid_log(function: object) -> None:
    if hasattr(fluidsynth._fl, "fluid_set_log_function"):
        fluidsynth._fl.fluid_set_log_function.argtypes = [c_int, _LOG_FUNC, c_void_p]
        for level in range(5):  # FLUID_PANIC .. FLUID_DBG
            fluidsynth._fl.fluid_set_log_function(level, function, None)


_set_fluid_log(_fluid_log_callback)
atexit.register(_set_fluid_log, cast(None, _LOG_FUNC))  # no calls into Python during shutdown


def _last_fluid_messages(count: int = 3) -> str:
    return "; ".join(list(_FLUID_LOG)[-count:])


def find_soundfont(user_path: str | Path | None = None) -> Path:
    """The user's SoundFont if given (SynthError if missing), else a system GM SoundFont
    (FluidR3_GM / default-GM preferred), else PerfJam's shipped piano."""
    if user_path is not None and str(user_path) != "":
        path = Path(user_path).expanduser()
        if not path.is_file():
            raise SynthError(f"SoundFont not found: {path}")
        return path
    candidates: list[Path] = []
    for folder in SYSTEM_SOUNDFONT_DIRS:
        directory = Path(folder).expanduser()
        if directory.is_dir():
            candidates += sorted(p for p in directory.glob("*.sf2") if p.is_file())
    ranked = [p for name in PREFERRED_SOUNDFONTS for p in candidates if p.name == name] + candidates
    if ranked:
        return ranked[0]
    if SHIPPED_SOUNDFONT.is_file():
        return SHIPPED_SOUNDFONT
    looked = ", ".join([*SYSTEM_SOUNDFONT_DIRS, str(SHIPPED_SOUNDFONT)])
    raise SynthError(f"no SoundFont found (looked in {looked})")


def _load_into(fs: fluidsynth.Synth, path: str | Path | None) -> tuple[int, Path]:
    """Load a SoundFont into a FluidSynth instance: (sfont id, path), SynthError if it is not one."""
    resolved = find_soundfont(path)
    try:
        with open(resolved, "rb") as f:
            header = f.read(12)
    except OSError as exc:
        raise SynthError(f"cannot read SoundFont {resolved}: {exc.strerror or exc}") from exc
    if len(header) < 12 or header[:4] != b"RIFF":
        raise SynthError(f"not a SoundFont file (no RIFF header): {resolved}")
    sfid = fs.sfload(str(resolved))
    if sfid < 0:
        detail = _last_fluid_messages()
        raise SynthError(
            f"FluidSynth could not load SoundFont {resolved}" + (f" ({detail})" if detail else "")
        )
    return sfid, resolved


def _select_program(fs: fluidsynth.Synth, sfid: int, channel: int, program: int) -> bool:
    """GM drums (channel 10) come from bank 128 when the SoundFont has them, else from bank 0."""
    if channel == 9 and fs.program_select(channel, sfid, 128, program) == 0:
        return True
    return fs.program_select(channel, sfid, 0, program) == 0


def _check(channel: int, **data_bytes: int) -> None:
    if not 0 <= channel < MIDI_CHANNELS:
        raise ValueError(f"MIDI channel must be 0..15, got {channel}")
    for name, value in data_bytes.items():
        if not 0 <= value <= 127:
            raise ValueError(f"{name} must be 0..127, got {value}")


@dataclass(frozen=True)
class SynthConfig:
    soundfont: str | Path | None = None  # None: find_soundfont()
    audio_drivers: tuple[str, ...] = DEFAULT_AUDIO_DRIVERS  # tried in order
    sample_rate_hz: int = 44100  # under JACK, FluidSynth follows the server's rate
    gain: float = 0.5
    human_channel: int = 0
    ai_channel: int = 1
    human_program: int = 0  # GM acoustic grand piano
    ai_program: int = 0
    human_pan: float = 0.35  # 0.0 left .. 0.5 centre .. 1.0 right
    ai_pan: float = 0.65
    period_size_frames: int = 128  # audio buffer: period_size_frames * periods of latency
    periods: int = 2
    reverb: bool = True
    chorus: bool = False
    client_name: str = DEFAULT_JACK_NAME  # the JACK client name (ports NAME:left / NAME:right)
    jack_autoconnect: bool = True  # connect to the system playback ports
    allow_jack_autostart: bool = False  # trying the jack driver must not spawn a jackd
    # Audio driver threads left at normal priority (JACK without realtime scheduling): nice level
    # (SCHED_FIFO would take the CPU from such a JACK server itself); 0: leave them (perfjam.live.realtime)
    thread_nice: int = -10


def _new_fluid(sample_rate_hz: int, gain: float, reverb: bool, chorus: bool) -> fluidsynth.Synth:
    settings = {"synth.reverb.active": int(reverb), "synth.chorus.active": int(chorus)}
    return fluidsynth.Synth(gain=gain, samplerate=sample_rate_hz, channels=MIDI_CHANNELS, **settings)


class Synth:
    """The live synth. Construct, then ``start()`` for audio; ``close()`` when done."""

    def __init__(self, config: SynthConfig | None = None) -> None:
        self.config = cfg = config or SynthConfig()
        self._fs = _new_fluid(cfg.sample_rate_hz, cfg.gain, cfg.reverb, cfg.chorus)
        self._fs.setting("audio.period-size", cfg.period_size_frames)
        self._fs.setting("audio.periods", cfg.periods)
        self._fs.setting("audio.jack.id", cfg.client_name)
        self._fs.setting("audio.jack.autoconnect", int(cfg.jack_autoconnect))
        self._audio_driver_name: str | None = None
        self._sounding: set[tuple[int, int]] = set()
        self._programs: dict[int, int] = {}
        self._closed = False
        try:
            self._sfid, self.soundfont_path = _load_into(self._fs, cfg.soundfont)
        except SynthError:
            self._fs.delete()
            raise
        for channel, program, pan in (
            (cfg.human_channel, cfg.human_program, cfg.human_pan),
            (cfg.ai_channel, cfg.ai_program, cfg.ai_pan),
        ):
            self._select(channel, program, fallback=True)
            self._fs.cc(channel, CC_PAN, max(0, min(127, round(pan * 127))))

    # --- audio ----------------------------------------------------------------------------------
    def start(self) -> bool:
        """Open the first audio driver of ``config.audio_drivers`` that works; True if one did."""
        if self._closed:
            raise SynthError("the synth is closed")
        if self._fs.audio_driver:
            return True
        if not self.config.allow_jack_autostart:
            os.environ.setdefault("JACK_NO_START_SERVER", "1")
        for name in self.config.audio_drivers:
            if fluidsynth.fluid_settings_setstr(self._fs.settings, b"audio.driver", name.encode()) != 0:
                log.info("FluidSynth has no audio driver %r", name)
                continue
            with threads_started_at(0, self.config.thread_nice):
                driver = fluidsynth.new_fluid_audio_driver(self._fs.settings, self._fs.synth)
            if driver:
                self._fs.audio_driver = driver  # pyfluidsynth's delete() frees it
                self._audio_driver_name = name
                log.info("audio through %s", name)
                return True
            log.info("audio driver %s failed: %s", name, _last_fluid_messages(1))
        return False

    @property
    def audio_ok(self) -> bool:
        return self._audio_driver_name is not None

    @property
    def audio_driver(self) -> str | None:
        return self._audio_driver_name

    @property
    def audio_status(self) -> str:
        return f"audio: {self._audio_driver_name}" if self._audio_driver_name else NO_AUDIO

    # --- notes ----------------------------------------------------------------------------------
    def note_on(self, channel: int, pitch: int, velocity: int) -> None:
        """Velocity 0 is a note-off."""
        _check(channel, pitch=pitch, velocity=velocity)
        if velocity == 0:
            self.note_off(channel, pitch)
            return
        self._fs.noteon(channel, pitch, velocity)
        self._sounding.add((channel, pitch))

    def note_off(self, channel: int, pitch: int) -> None:
        _check(channel, pitch=pitch)
        self._fs.noteoff(channel, pitch)
        self._sounding.discard((channel, pitch))

    def control_change(self, channel: int, control: int, value: int) -> None:
        """Any CC; 64 is the sustain pedal (value >= 64 down)."""
        _check(channel, control=control, value=value)
        self._fs.cc(channel, control, value)

    def all_notes_off(self, channel: int | None = None, sound_off: bool = True) -> None:
        """Release every note this wrapper started (one channel or all), lift the sustain pedal,
        then All Notes Off (CC123) and, with ``sound_off``, All Sound Off (CC120: cuts tails)."""
        channels = range(MIDI_CHANNELS) if channel is None else (channel,)
        for ch in channels:
            _check(ch)
            for held_channel, pitch in sorted(n for n in set(self._sounding) if n[0] == ch):
                self._fs.noteoff(held_channel, pitch)
                self._sounding.discard((held_channel, pitch))
            self._fs.cc(ch, CC_SUSTAIN, 0)
            self._fs.all_notes_off(ch)
            if sound_off:
                self._fs.all_sounds_off(ch)

    def sounding_notes(self) -> set[tuple[int, int]]:
        """(channel, pitch) of notes started and not yet stopped (keys down, pedal aside)."""
        return set(self._sounding)

    def active_voice_count(self) -> int:
        return int(self._fs.get_active_voice_count())

    # --- programs and soundfonts ----------------------------------------------------------------
    def _select(self, channel: int, program: int, fallback: bool = False) -> None:
        if _select_program(self._fs, self._sfid, channel, program):
            self._programs[channel] = program
            return
        if fallback and _select_program(self._fs, self._sfid, channel, 0):
            log.warning(
                "%s lacks program %d; channel %d plays program 0", self.soundfont_path, program, channel
            )
            self._programs[channel] = program  # asked for again after the next soundfont switch
            return
        raise SynthError(f"SoundFont {self.soundfont_path.name} has no program {program}")

    def set_program(self, channel: int, program: int) -> None:
        """Select a GM program (0-based) from the current SoundFont; SynthError if it lacks it."""
        _check(channel, program=program)
        self._select(channel, program)

    def load_soundfont(self, path: str | Path | None) -> Path:
        """Switch SoundFont at runtime (None: find_soundfont()). Sounding notes are released first;
        on error the current SoundFont stays loaded."""
        old_sfid = self._sfid
        new_sfid, new_path = _load_into(self._fs, path)
        self.all_notes_off()
        self._sfid, self.soundfont_path = new_sfid, new_path
        for channel, program in sorted(self._programs.items()):
            self._select(channel, program, fallback=True)
        self._fs.sfunload(old_sfid, 1)
        return new_path

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.all_notes_off()
        self._fs.delete()
        self._audio_driver_name = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


# --- offline rendering -----------------------------------------------------------------------------
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
    fs = _new_fluid(sample_rate_hz, 0.5, reverb=True, chorus=False)
    try:
        sfid, _ = _load_into(fs, soundfont)
        for channel in range(MIDI_CHANNELS):
            _select_program(fs, sfid, channel, 0)
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
            elif kind == "program" and not _select_program(fs, sfid, channel, a):
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
        _check(channel, pitch=note.pitch)
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
        midi = mido.MidiFile(str(midi_path))
    except (OSError, EOFError, ValueError) as exc:
        raise SynthError(f"cannot read MIDI file {midi_path}: {exc}") from exc
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
