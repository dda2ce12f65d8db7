"""The live engine: one thread owns the model stream, the synth, the MIDI ports and the recorder;
everything else talks to it through ``inbox`` and listens on ``reports``. This module is its
public face (``Engine``); the parts live in ``perfjam.live`` (see ``perfjam.live.loop``).

Threads and time (see docs/ARCHITECTURE.md, "The live engine"):

* The MIDI input is polled (``perfjam.midi_io.MidiInput``: rtmidi's own queue, no Python on the
  MIDI system's thread): the engine thread moves its ``(time_s, message)`` (time_s: the arrival,
  rebuilt from the MIDI clock) onto ``inbox`` while it waits and between generation steps. GUI
  commands are ``(name, *args)`` tuples on the same queue.
* The engine thread waits on ``inbox`` with a timeout until the next due AI note (or the next
  generation / call-and-response deadline, at most ``wait_cap_ms``), in slices of at most
  ``input_poll_ms`` while an input is open, reading it between them. Each turn it: takes every
  waiting item, sending human notes straight to the synth and MIDI out (thru) before any model
  work and applying commands; lets the model hear the human events (rolling its look-ahead back
  to what was actually played first); sends the due AI notes; then generates while the
  generated horizon is less than ``lookahead_ms`` ahead, one event at a time, stopping as soon
  as something arrives in ``inbox`` or an AI note is due within one step's cost.
* AI notes are sent when due on absolute perf_counter times. A note sent more than
  ``late_ms`` (1 ms) after its time counts as late.
"""

from __future__ import annotations

import math
import queue
import threading
import time
from pathlib import Path

from perfjam.follow import LOUDNESS
from perfjam.live.clock import HeardNote
from perfjam.live.config import (
    INPUT_CLIENT,
    MODES,
    OUTPUT_CLIENT,
    VIRTUAL_INPUT,
    VIRTUAL_OUTPUT,
    EngineConfig,
    MidiSettings,
)
from perfjam.live.reports import ErrorReport, NoteReport, PedalReport, PlanReport, StatusReport
from perfjam.model import PerformanceModel

__all__ = ["INPUT_CLIENT", "MODES", "OUTPUT_CLIENT", "VIRTUAL_INPUT", "VIRTUAL_OUTPUT", "Engine",
           "EngineConfig", "ErrorReport", "MidiSettings", "NoteReport", "PedalReport", "PlanReport",
           "StatusReport"]
_perf = time.perf_counter


class Engine:
    """See the module docstring and docs/ARCHITECTURE.md. Commands are thread-safe."""

    def __init__(self, model: PerformanceModel | str | Path, config: EngineConfig | None = None,
                 synth=None, midi: MidiSettings | None = None) -> None:
        self.model = model if isinstance(model, PerformanceModel) else PerformanceModel.load(model)
        self.config = config or EngineConfig()
        self.synth = synth
        self.midi = midi or MidiSettings()
        self.inbox: queue.SimpleQueue = queue.SimpleQueue()
        self.reports: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self.loop = None  # the EngineLoop, once started (engine thread state; read it via query())

    def drain_reports(self) -> list:
        """Every report waiting on ``reports``, without blocking."""
        out = []
        while True:
            try:
                out.append(self.reports.get_nowait())
            except queue.Empty:
                return out

    # --- life cycle ------------------------------------------------------------------------------
    def start(self) -> None:
        """Open the MIDI ports (MidiError if the MIDI API itself is unusable; a port that does not
        exist yet is "disconnected" and opened when it appears) and start the engine thread."""
        from perfjam.live.loop import EngineLoop  # rtmidi is imported only when the engine runs

        if self._thread is not None:
            raise RuntimeError("the engine was already started")
        self.loop = EngineLoop(self)
        ready = threading.Event()
        self._thread = threading.Thread(target=self.loop.run, args=(ready,), name="perfjam-engine",
                                        daemon=True)
        self._thread.start()
        ready.wait()
        if self.loop.start_error is not None:
            self._thread.join()
            error, self.loop.start_error = self.loop.start_error, None
            self._thread = None
            raise error

    def stop(self, timeout: float = 60.0) -> None:
        """Release every note, finish the recording, close the ports; waits for the thread (a
        recording not finished in time stays a journal, recovered at the next start)."""
        if self._thread is None:
            return
        self.inbox.put(("stop",))
        self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # --- commands (any thread) ------------------------------------------------------------------
    def _put(self, *command) -> None:
        self.inbox.put(command)

    def set_temperature(self, t: float) -> None:
        _check_number("temperature", t, 0.0)
        self._put("temperature", float(t))

    def set_mode(self, mode: str, primer: str | None = None) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        self._put("mode", mode, primer)

    def set_response(self, gap_ms: float | None = None, length_s: float | None = None) -> None:
        _check_number("gap_ms", gap_ms, 0.0)
        _check_number("length_s", length_s, 0.0, low_open=True)
        self._put("response", gap_ms, length_s)

    def set_controls(self, notes_per_s: float | None = None, pitch_histogram=None) -> None:
        _check_number("notes_per_s", notes_per_s, 0.0)
        histogram = None if pitch_histogram is None else tuple(map(float, pitch_histogram))
        self._put("controls", notes_per_s, histogram)

    def set_follow_key(self, on: bool) -> None:
        """Key follows me: the pitch-class control from the human's recent notes (conditioned
        models); off: the histogram of ``set_controls`` again."""
        self._put("follow_key", bool(on))

    def set_follow_density(self, on: bool) -> None:
        """Density follows me (conditioned models, while no density is set): the AI plays as
        densely as the pianist's latest phrase (a duet: ``set_duet_density`` of it)."""
        self._put("follow_density", bool(on))

    def set_loudness(self, loudness: str) -> None:
        """How loud the AI plays: "softer", "as me", "louder" than the pianist, or "own" (the
        model's own velocities)."""
        if loudness not in LOUDNESS:
            raise ValueError(f"loudness must be one of {', '.join(LOUDNESS)}, got {loudness!r}")
        self._put("loudness", loudness)

    def set_duet_density(self, fraction: float) -> None:
        """Duet: the AI's density as a fraction of the pianist's (followed density only)."""
        if not 0.0 <= float(fraction) <= 4.0:
            raise ValueError(f"the duet density is a fraction of the pianist's, 0..4, got {fraction!r}")
        self._put("duet_density", float(fraction))

    def set_sampling(self, top_p: float | None = None, min_p: float | None = None,
                     note_min_p: float | None = None) -> None:
        """Truncation: top-p, min-p and min-p among the note-ons (None: off); the look-ahead is
        redrawn."""
        if top_p is not None and not 0.0 < top_p <= 1.0:
            raise ValueError(f"top_p must be in (0, 1], got {top_p!r}")
        for name, value in (("min_p", min_p), ("note_min_p", note_min_p)):
            if value is not None and not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value!r}")
        self._put("sampling", top_p, min_p, note_min_p)

    def answer_now(self) -> None:
        """Call mode: answer now, without waiting for the gap."""
        self._put("answer_now")

    def set_answer_cc(self, cc: int | None) -> None:
        """A MIDI controller (e.g. 67, a foot switch) whose press answers now; None: none."""
        if cc is not None and not 0 <= int(cc) <= 127:
            raise ValueError(f"a MIDI controller number is 0..127, got {cc!r}")
        self._put("answer_cc", None if cc is None else int(cc))

    def load_model(self, path_or_name: str | Path) -> None:
        self._put("load_model", path_or_name)

    def set_soundfont(self, path: str | Path | None) -> None:
        self._put("soundfont", path)

    def set_midi_input(self, name: str | None, virtual: bool = False) -> None:
        self._put("midi_input", name, virtual)

    def set_midi_output(self, name: str | None, virtual: bool = False) -> None:
        self._put("midi_output", name, virtual)

    def set_audio_drivers(self, drivers) -> None:
        """Play through the first of these FluidSynth audio drivers that works (empty: no audio);
        reopened off the engine thread, then a new status says which."""
        self._put("audio_drivers", tuple(str(d) for d in drivers))

    def set_midi_channels(self, out_channel: int, thru: bool, thru_channel: int) -> None:
        """MIDI out: the AI's channel, MIDI thru on/off and its channel (0-based); what sounds on
        the old channels is released first."""
        for channel in (out_channel, thru_channel):
            if not 0 <= int(channel) <= 15:
                raise ValueError(f"a MIDI channel is 0..15, got {channel!r}")
        self._put("midi_channels", int(out_channel), bool(thru), int(thru_channel))

    def set_seed(self, seed: int | None) -> None:
        """The sampler's random seed from now on (None: random); the look-ahead is redrawn."""
        self._put("seed", None if seed is None else int(seed))

    def human_note_on(self, pitch: int, velocity: int) -> None:
        self.inbox.put((_perf(), (0x90, int(pitch), max(1, min(127, int(velocity))))))

    def human_note_off(self, pitch: int) -> None:
        self.inbox.put((_perf(), (0x80, int(pitch), 0)))

    def human_pedal(self, down: bool) -> None:
        self.inbox.put((_perf(), (0xB0, 64, 127 if down else 0)))

    def set_playing(self, playing: bool) -> None:
        self._put("playing", bool(playing))

    def set_paused(self, paused: bool) -> None:
        """Hold the AI (its notes released) while something else plays, e.g. a take played
        back; unpaused, the mode starts afresh. Start/stop (``set_playing``) is left as it is."""
        self._put("paused", bool(paused))

    def panic(self) -> None:
        self._put("panic")

    def start_recording(self, path: str | Path | None = None) -> None:
        self._put("record", path)

    def stop_recording(self) -> None:
        self._put("stop_recording")

    # --- queries (any thread; answered by the engine thread between turns) --------------------------
    def query(self, fn, timeout: float = 5.0):
        """Run ``fn(loop)`` on the engine thread (``loop``: its ``EngineLoop``) and return the
        result; runs it directly once the engine has stopped."""
        if self.loop is None:
            raise RuntimeError("the engine has not been started")
        if not self.running:
            return fn(self.loop)
        box: list = []
        done = threading.Event()
        self._put("query", fn, box, done)
        if not done.wait(timeout):
            raise TimeoutError("the engine did not answer")
        if isinstance(box[0], BaseException):
            raise box[0]
        return box[0]

    def history(self) -> list[int]:
        """The events the current model has heard, in order, since it was loaded."""
        return self.query(lambda loop: loop.stream.history.tolist())

    def heard(self) -> list[HeardNote]:
        """The note actions the model heard, as played (needs ``keep_heard``)."""
        return self.query(lambda loop: list(loop.heard))

    def stats(self) -> dict:
        """Whole-run figures: thru latency, AI timing error, model step time (ms), counts."""
        return self.query(lambda loop: loop.stats())

    def status(self) -> StatusReport:
        return self.query(lambda loop: loop.status())


def _check_number(name: str, value: float | None, low: float, low_open: bool = False) -> None:
    """ValueError for a setting that is not a finite number above ``low`` (None: unchanged)."""
    if value is not None and not (math.isfinite(value) and (value > low if low_open else value >= low)):
        raise ValueError(f"{name} must be a finite number {'>' if low_open else '>='} {low:g}, got {value!r}")
