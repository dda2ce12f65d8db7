"""FluidSynth: the live synth (named audio drivers with fallback, reconnected when its JACK server
returns) and SoundFont lookup. The only module that imports ``fluidsynth`` (pyfluidsynth);
offline rendering to WAV (``perfjam.render``) builds on its helpers.

Live use: ``Synth(SynthConfig()).start()`` opens the first audio driver that works; without one,
``audio_ok`` is False and everything else (notes, programs, soundfonts) keeps working silently.
FluidSynth's own MIDI driver is never started (MIDI comes through ``perfjam.midi_io``).
A ``Synth`` is driven by the engine's thread, and a take's playback may drive other channels
of it from its own (``perfjam.playback``): FluidSynth itself is thread-safe, and the wrapper's
note bookkeeping is a set read only through copies.
"""

from __future__ import annotations

import atexit
import contextlib
import io
import logging
import os
import sys
from collections import deque
from ctypes import CFUNCTYPE, c_char_p, c_int, c_void_p, cast
from dataclasses import dataclass
from pathlib import Path
from typing import Self

from perfjam.audio_drivers import AUDIO_LOST, DEFAULT_AUDIO_DRIVERS, DEFAULT_JACK_NAME
from perfjam.live.realtime import threads_started_at
from perfjam.midi_io import alsa_log, jack_log
from perfjam.package_data import SOUNDFONTS_DIR

_FLUIDSYNTH_IMPORT_ERROR = ""  # what loading FluidSynth's library said, when it failed
try:
    with contextlib.redirect_stdout(io.StringIO()):  # with $CI set, pyfluidsynth prints where it found it
        import fluidsynth
except (ImportError, OSError) as exc:  # pyfluidsynth raises ImportError when libfluidsynth is missing
    fluidsynth = None  # the module still imports: SoundFont lookup, and a FluidSynthMissing to report
    _FLUIDSYNTH_IMPORT_ERROR = f"{type(exc).__name__}: {exc}"

log = logging.getLogger(__name__)

SHIPPED_SOUNDFONT = SOUNDFONTS_DIR / "perfjam-piano.sf2"  # PerfJam's own (tools/make_soundfont.py)
SYSTEM_SOUNDFONT_DIRS = ("/usr/share/sounds/sf2", "/usr/share/soundfonts", "~/.local/share/soundfonts")
PREFERRED_SOUNDFONTS = ("FluidR3_GM.sf2", "default-GM.sf2")
NO_AUDIO = "no audio output"
MIDI_CHANNELS = 16
CC_SUSTAIN, CC_PAN, CC_ALL_SOUND_OFF, CC_ALL_NOTES_OFF = 64, 10, 120, 123


class SynthError(RuntimeError):
    """A SoundFont that cannot be found or loaded, or a program it does not have."""


FLUIDSYNTH_INSTALL = {  # where pyfluidsynth finds the library, by sys.platform (README: "Other systems")
    "linux": "Debian/Ubuntu: sudo apt install libfluidsynth3; Fedora: sudo dnf install fluidsynth-libs",
    "darwin": "brew install fluid-synth, with HOMEBREW_PREFIX set as brew shellenv sets it",
    "win32": "choco install fluidsynth, which puts it in C:\\tools\\fluidsynth where PerfJam looks",
}


def fluidsynth_missing_message(platform: str = sys.platform) -> str:
    """One sentence for a user whose system lacks FluidSynth's library."""
    how = FLUIDSYNTH_INSTALL.get(platform, "from your system's packages or fluidsynth.org")
    return f"PerfJam needs the FluidSynth library for its sound and could not load it: install it ({how})."


class FluidSynthMissing(SynthError):
    """No FluidSynth library (or not where pyfluidsynth looks); ``details``: what pyfluidsynth said."""

    def __init__(self, details: str = "") -> None:
        super().__init__(fluidsynth_missing_message())
        self.details = details


def require_fluidsynth() -> None:
    """FluidSynthMissing when the library could not be loaded."""
    if fluidsynth is None:
        raise FluidSynthMissing(f"pyfluidsynth: {_FLUIDSYNTH_IMPORT_ERROR}")


def fluidsynth_version() -> str | None:
    """The loaded FluidSynth library's version (e.g. "2.3.1"), None without one."""
    if fluidsynth is None:
        return None
    fluidsynth._fl.fluid_version_str.restype = c_char_p
    return fluidsynth._fl.fluid_version_str().decode()


# FluidSynth logs to stderr by default; its messages go to a small ring instead, quoted in errors.
# The callback only appends and counts, as it may run on FluidSynth's and JACK's threads.
_FLUID_LOG: deque[str] = deque(maxlen=32)
_LOG_FUNC = CFUNCTYPE(None, c_int, c_char_p, c_void_p)
JACK_LOST_MESSAGE = "Lost the connection to the JACK server"  # FluidSynth's JACK driver, on shutdown
_jack_losses = [0]  # how many times FluidSynth said so


def _on_fluid_log(_level: int, msg: bytes | None, _data: object) -> None:
    text = (msg or b"").decode("utf-8", "replace")
    _FLUID_LOG.append(text)
    if JACK_LOST_MESSAGE in text:
        _jack_losses[0] += 1


_fluid_log_callback = _LOG_FUNC(_on_fluid_log)


def _set_fluid_log(function: object) -> None:
    if fluidsynth is not None and hasattr(fluidsynth._fl, "fluid_set_log_function"):
        fluidsynth._fl.fluid_set_log_function.argtypes = [c_int, _LOG_FUNC, c_void_p]
        for level in range(5):  # FLUID_PANIC .. FLUID_DBG
            fluidsynth._fl.fluid_set_log_function(level, function, None)


_set_fluid_log(_fluid_log_callback)
atexit.register(_set_fluid_log, cast(None, _LOG_FUNC))  # no calls into Python during shutdown


def _last_fluid_messages(count: int = 3) -> str:
    return "; ".join(list(_FLUID_LOG)[-count:])


def audio_failure_details(count: int = 6) -> list[str]:
    """What FluidSynth, alsa-lib and libjack said last (why no audio driver opened)."""
    return [*list(_FLUID_LOG)[-count:], *alsa_log.messages()[-count:], *jack_log.messages()[-count:]]


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


def load_into(fs: fluidsynth.Synth, path: str | Path | None) -> tuple[int, Path]:
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


def select_program(fs: fluidsynth.Synth, sfid: int, channel: int, program: int) -> bool:
    """GM drums (channel 10) come from bank 128 when the SoundFont has them, else from bank 0."""
    if channel == 9 and fs.program_select(channel, sfid, 128, program) == 0:
        return True
    return fs.program_select(channel, sfid, 0, program) == 0


def check_channel(channel: int, **data_bytes: int) -> None:
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


def new_fluid(sample_rate_hz: int, gain: float, reverb: bool, chorus: bool) -> fluidsynth.Synth:
    require_fluidsynth()
    settings = {"synth.reverb.active": int(reverb), "synth.chorus.active": int(chorus)}
    return fluidsynth.Synth(gain=gain, samplerate=sample_rate_hz, channels=MIDI_CHANNELS, **settings)


class Synth:
    """The live synth. Construct, then ``start()`` for audio; ``close()`` when done."""

    def __init__(self, config: SynthConfig | None = None) -> None:
        self.config = cfg = config or SynthConfig()
        self._fs = new_fluid(cfg.sample_rate_hz, cfg.gain, cfg.reverb, cfg.chorus)
        self._fs.setting("audio.period-size", cfg.period_size_frames)
        self._fs.setting("audio.periods", cfg.periods)
        self._fs.setting("audio.jack.id", cfg.client_name)
        self._fs.setting("audio.jack.autoconnect", int(cfg.jack_autoconnect))
        self._audio_driver_name: str | None = None
        self._drivers = cfg.audio_drivers  # what ``start`` tries (``restart_audio`` may change it)
        self._lost_driver: str | None = None  # the driver whose server went away, until it reopens
        self._jack_losses_seen = 0
        self._sounding: set[tuple[int, int]] = set()
        self._programs: dict[int, int] = {}
        self._closed = False
        try:
            self._sfid, self.soundfont_path = load_into(self._fs, cfg.soundfont)
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
        """Open the first audio driver that works (``config.audio_drivers``, or those of the last
        ``restart_audio``); True if one did."""
        if self._closed:
            raise SynthError("the synth is closed")
        if self._fs.audio_driver:
            return True
        if not self.config.allow_jack_autostart:
            os.environ.setdefault("JACK_NO_START_SERVER", "1")
        alsa_log.install()  # a driver that fails says why in the kept messages, not on the terminal
        jack_log.install()
        for name in self._drivers:
            if fluidsynth.fluid_settings_setstr(self._fs.settings, b"audio.driver", name.encode()) != 0:
                log.info("FluidSynth has no audio driver %r", name)
                continue
            with threads_started_at(0, self.config.thread_nice):
                driver = fluidsynth.new_fluid_audio_driver(self._fs.settings, self._fs.synth)
            if driver:
                self._fs.audio_driver = driver  # pyfluidsynth's delete() frees it
                self._audio_driver_name, self._lost_driver = name, None
                self._jack_losses_seen = _jack_losses[0]
                log.info("audio through %s", name)
                return True
            log.info("audio driver %s failed: %s", name, _last_fluid_messages(1))
        return False

    def stop_audio(self) -> None:
        """Close the audio driver (notes and programs stay: ``start`` opens one again)."""
        driver, self._fs.audio_driver = self._fs.audio_driver, None
        self._audio_driver_name = None
        if driver:
            fluidsynth.delete_fluid_audio_driver(driver)

    def restart_audio(self, drivers: tuple[str, ...] | None = None) -> bool:
        """Close the audio driver and open the first of ``drivers`` that works (None: the config's
        order, the driver that played last tried first). For a JACK server that stopped and came
        back (its old client died with it), or a new choice of driver; True if one opened."""
        if self._closed:
            raise SynthError("the synth is closed")
        last = self._audio_driver_name
        if drivers is None:
            order = self.config.audio_drivers
            drivers = (last, *(d for d in order if d != last)) if last in order else order
        self.stop_audio()
        self._drivers = tuple(drivers)
        return self.start()

    @property
    def audio_lost(self) -> bool:
        """The audio driver's server went away (FluidSynth lost its JACK server): silent until
        ``reconnect_audio`` reopens it."""
        if self._lost_driver is not None:
            return True
        return self._audio_driver_name == "jack" and _jack_losses[0] > self._jack_losses_seen

    def reconnect_audio(self) -> bool:
        """After ``audio_lost``: open the lost driver again (its server is back); True if it did.
        Slow (~0.1 s, FluidSynth's calls release the GIL): call it off the engine thread."""
        lost = self._lost_driver or self._audio_driver_name
        if lost is None:
            return False
        ok = self.restart_audio((lost,))
        self._lost_driver = None if ok else lost
        return ok

    @property
    def audio_ok(self) -> bool:
        return self._audio_driver_name is not None and not self.audio_lost

    @property
    def audio_driver(self) -> str | None:
        return self._audio_driver_name

    @property
    def audio_status(self) -> str:
        """"audio: DRIVER", "audio lost: DRIVER" (its server went away) or ``NO_AUDIO``."""
        if self.audio_lost:
            return f"{AUDIO_LOST}: {self._lost_driver or self._audio_driver_name}"
        return f"audio: {self._audio_driver_name}" if self._audio_driver_name else NO_AUDIO

    # --- notes ----------------------------------------------------------------------------------
    def note_on(self, channel: int, pitch: int, velocity: int) -> None:
        """Velocity 0 is a note-off."""
        check_channel(channel, pitch=pitch, velocity=velocity)
        if velocity == 0:
            self.note_off(channel, pitch)
            return
        self._fs.noteon(channel, pitch, velocity)
        self._sounding.add((channel, pitch))

    def note_off(self, channel: int, pitch: int) -> None:
        check_channel(channel, pitch=pitch)
        self._fs.noteoff(channel, pitch)
        self._sounding.discard((channel, pitch))

    def control_change(self, channel: int, control: int, value: int) -> None:
        """Any CC; 64 is the sustain pedal (value >= 64 down)."""
        check_channel(channel, control=control, value=value)
        self._fs.cc(channel, control, value)

    def all_notes_off(self, channel: int | None = None, sound_off: bool = True) -> None:
        """Release every note this wrapper started (one channel or all), lift the sustain pedal,
        then All Notes Off (CC123) and, with ``sound_off``, All Sound Off (CC120: cuts tails)."""
        channels = range(MIDI_CHANNELS) if channel is None else (channel,)
        for ch in channels:
            check_channel(ch)
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
        if select_program(self._fs, self._sfid, channel, program):
            self._programs[channel] = program
            return
        if fallback and select_program(self._fs, self._sfid, channel, 0):
            log.warning(
                "%s lacks program %d; channel %d plays program 0", self.soundfont_path, program, channel
            )
            self._programs[channel] = program  # asked for again after the next soundfont switch
            return
        raise SynthError(f"SoundFont {self.soundfont_path.name} has no program {program}")

    def set_program(self, channel: int, program: int) -> None:
        """Select a GM program (0-based) from the current SoundFont; SynthError if it lacks it."""
        check_channel(channel, program=program)
        self._select(channel, program)

    def load_soundfont(self, path: str | Path | None) -> Path:
        """Switch SoundFont at runtime (None: find_soundfont()). Sounding notes are released first;
        on error the current SoundFont stays loaded."""
        old_sfid = self._sfid
        new_sfid, new_path = load_into(self._fs, path)
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
