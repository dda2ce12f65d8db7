"""The live engine: one thread owns the model stream, the scheduler, the synth, the MIDI ports and
the recorder; everything else talks to it through ``inbox`` and listens on ``reports``.

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

import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from perfjam.model import PerformanceModel
from perfjam.scheduler import HeardNote

MODES = ("call", "duet", "solo")
VIRTUAL_INPUT = "PerfJam In"
VIRTUAL_OUTPUT = "PerfJam Out"
_perf = time.perf_counter


@dataclass(frozen=True)
class EngineConfig:
    mode: str = "call"  # "call" | "duet" | "solo"
    temperature: float = 1.0
    top_p: float | None = None
    lookahead_ms: float = 150.0  # generation runs this far ahead of real time
    reaction_ms: float = 40.0  # the earliest an AI note may follow a human event or a restart
    gap_ms: float = 600.0  # call: human silence before the answer (music time)
    response_length_s: float = 6.0  # call: the longest answer (music time)
    max_note_s: float = 8.0  # an AI note is released after this long (music time)
    notes_per_s: float | None = None  # controls (conditioned models only)
    pitch_histogram: tuple[float, ...] | None = None
    primer: str | None = None  # solo: a MIDI file the model continues (played first, <= 10 s)
    playing: bool = True  # the AI plays (Space in the GUI)
    seed: int | None = None
    speed: float = 1.0  # music runs this many times faster than real time (tests, benchmarks)
    late_ms: float = 1.0
    spin_ms: float = 0.5  # the timed wait ends this early; the last stretch to a due note is spun
    wait_cap_ms: float = 20.0  # longest idle wait between housekeeping turns
    hotplug_interval_s: float = 0.5
    input_poll_ms: float = 0.5  # while a MIDI input is open, the longest the engine waits without reading it
    status_interval_s: float = 0.25
    note_reports: bool = True  # NoteReports on ``reports`` (drain it, or turn them off)
    keep_heard: bool = False  # keep the HeardNote log (tests)
    manage_gc: bool = True  # while running, the engine thread runs Python's cyclic GC (see docs)
    realtime_priority: int = 20  # SCHED_FIFO priority of the engine thread when allowed; 0: never

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        for name in ("lookahead_ms", "reaction_ms", "speed", "max_note_s", "response_length_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)!r}")
        if self.temperature < 0 or self.gap_ms < 0:
            raise ValueError("temperature and gap_ms must be >= 0")


@dataclass(frozen=True)
class MidiSettings:
    api: str | None = None  # "jack" | "alsa" | None: $PERFJAM_MIDI_API, else auto
    input_name: str | None = None  # None: no input
    output_name: str | None = None  # None: no output
    out_channel: int = 0  # AI notes (0-based)
    thru: bool = False  # also send the human's notes to the output...
    thru_channel: int = 1  # ...on this channel
    input_virtual: bool = False  # create a virtual port named input_name (others connect to it)
    output_virtual: bool = False


@dataclass(frozen=True, slots=True)
class NoteReport:
    source: str  # "human" | "ai"
    pitch: int
    velocity: int
    is_on: bool
    time_s: float  # human: arrival (callback stamp); ai: its scheduled time


@dataclass(frozen=True)
class StatusReport:
    midi_in: str  # port name ("" = none)
    midi_out: str
    audio: str
    mode: str
    temperature: float
    model_name: str
    has_controls: bool
    step_ms_p50: float
    step_ms_p99: float
    late_notes: int
    events_per_s: float  # model steps per second
    recording_path: str | None
    recording_elapsed_s: float
    playing: bool
    midi_in_state: str = "none"  # "connected" | "disconnected" | "none"
    midi_out_state: str = "none"
    state: str = ""  # "listening" | "answering" | "playing" | "waiting" | "stopped"
    events_in: int = 0  # MIDI messages received
    events_out: int = 0  # AI note messages sent
    timing_error_ms_p99: float = 0.0  # AI notes, rolling window
    thru_latency_ms_p99: float = 0.0  # human notes, arrival -> synth, rolling window


@dataclass(frozen=True, slots=True)
class ErrorReport:
    message: str


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
        from perfjam.engine_loop import EngineLoop  # rtmidi is imported only when the engine runs

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
        self._put("temperature", float(t))

    def set_top_p(self, top_p: float | None) -> None:
        self._put("top_p", top_p)

    def set_mode(self, mode: str, primer: str | None = None) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        self._put("mode", mode, primer)

    def set_response(self, gap_ms: float | None = None, length_s: float | None = None) -> None:
        self._put("response", gap_ms, length_s)

    def set_controls(self, notes_per_s: float | None = None, pitch_histogram=None) -> None:
        histogram = None if pitch_histogram is None else tuple(map(float, pitch_histogram))
        self._put("controls", notes_per_s, histogram)

    def load_model(self, path_or_name: str | Path) -> None:
        self._put("load_model", path_or_name)

    def set_soundfont(self, path: str | Path | None) -> None:
        self._put("soundfont", path)

    def set_midi_input(self, name: str | None, virtual: bool = False) -> None:
        self._put("midi_input", name, virtual)

    def set_midi_output(self, name: str | None, virtual: bool = False) -> None:
        self._put("midi_output", name, virtual)

    def human_note_on(self, pitch: int, velocity: int) -> None:
        self.inbox.put((_perf(), (0x90, int(pitch), max(1, min(127, int(velocity))))))

    def human_note_off(self, pitch: int) -> None:
        self.inbox.put((_perf(), (0x80, int(pitch), 0)))

    def human_pedal(self, down: bool) -> None:
        self.inbox.put((_perf(), (0xB0, 64, 127 if down else 0)))

    def set_playing(self, playing: bool) -> None:
        self._put("playing", bool(playing))

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
