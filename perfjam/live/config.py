"""The live engine's settings: what to play (``EngineConfig``) and which MIDI ports
(``MidiSettings``). Frozen; the engine copies what may change at run time."""

from __future__ import annotations

import math
from dataclasses import dataclass

from perfjam.follow import LOUDNESS
from perfjam.generation import MAX_NOTE_S, Primer
from perfjam.sampling import DEFAULT_NOTE_MIN_P, DEFAULT_TEMPERATURE

MODES = ("call", "duet", "solo")
VIRTUAL_INPUT = "PerfJam In"
VIRTUAL_OUTPUT = "PerfJam Out"
INPUT_CLIENT, OUTPUT_CLIENT = "perfjam-in", "perfjam-out"  # the engine's MIDI client names
HUMAN_STUCK_NOTE_S = 30.0  # a human key with no note-off this long is released (a lost note-off)
MAX_LOOKAHEAD_MS = 2000.0  # the look-ahead's memory is bounded whatever is asked (a model state per event)


@dataclass(frozen=True)
class EngineConfig:
    mode: str = "call"  # "call" | "duet" | "solo"
    temperature: float = DEFAULT_TEMPERATURE
    top_p: float | None = None
    min_p: float | None = None  # keep events with at least min_p x the likeliest one's probability
    note_min_p: float | None = DEFAULT_NOTE_MIN_P  # the same among the NOTE_ONs only (never timing
    # or dynamics)
    lookahead_ms: float = 150.0  # generation runs this far ahead of real time
    reaction_ms: float = 40.0  # the earliest an AI note may follow a human event or a restart
    gap_ms: float = 600.0  # call: the shortest silence after the human's phrase before the answer
    response_length_s: float = 6.0  # call: the answer's length; it then ends at its next breath
    max_note_s: float = MAX_NOTE_S  # an AI note is released after this long (music time)
    human_stuck_note_s: float = HUMAN_STUCK_NOTE_S  # a human key without note-off is released (wall time)
    notes_per_s: float | None = None  # controls (conditioned models only)
    pitch_histogram: tuple[float, ...] | None = None
    follow_key: bool = True  # the pitch-class control follows the human's notes (perfjam.follow)
    follow_density: bool = True  # with notes_per_s None: the density follows the human's (conditioned models)
    duet_density: float = 0.7  # duet: the AI's density, as a fraction of the human's
    loudness: str = "as me"  # "softer" | "as me" | "louder": the AI's level from the human's; "own"
    answer_cc: int | None = None  # call: this controller pressed (crossing 64) answers now (a foot switch)
    primer: str | Primer | None = None  # solo: a MIDI file (or one read: generation.load_primer) the
    # model continues, its last 10 s at most played first
    playing: bool = True  # the AI plays (Space in the GUI)
    seed: int | None = None
    speed: float = 1.0  # music runs this many times faster than real time (tests, benchmarks)
    late_ms: float = 1.0
    spin_ms: float = 0.5  # the timed wait ends this early; the last stretch to a due note is spun
    wait_cap_ms: float = 20.0  # longest idle wait between housekeeping turns
    hotplug_interval_s: float = 0.5
    input_poll_ms: float = 0.5  # while a MIDI input is open, the longest the engine waits without reading it
    work_slice_ms: float = 1.0  # the engine thread generates at most this long without a pause...
    pause_ms: float = 0.2  # ...of this long: at real-time priority it must leave the CPU to a JACK
    # server that runs without it (jackd --no-realtime), or that server misses its cycles
    status_interval_s: float = 0.25
    note_reports: bool = True  # NoteReports on ``reports`` (drain it, or turn them off)
    keep_heard: bool = False  # keep the HeardNote log (tests)
    manage_gc: bool = True  # while running, the engine thread runs Python's cyclic GC (see docs)
    # SCHED_FIFO priority of the engine thread when allowed, and JACK's pages locked in RAM; 0: neither
    realtime_priority: int = 20

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        for name in ("lookahead_ms", "reaction_ms", "speed", "max_note_s", "response_length_s",
                     "human_stuck_note_s"):
            if not (getattr(self, name) > 0 and math.isfinite(getattr(self, name))):
                raise ValueError(f"{name} must be a number > 0, got {getattr(self, name)!r}")
        if not (self.temperature >= 0 and self.gap_ms >= 0 and math.isfinite(self.temperature + self.gap_ms)):
            raise ValueError("temperature and gap_ms must be numbers >= 0")
        if not (self.duet_density >= 0 and math.isfinite(self.duet_density)):
            raise ValueError(f"duet_density must be a number >= 0, got {self.duet_density!r}")
        if self.lookahead_ms > MAX_LOOKAHEAD_MS:
            raise ValueError(f"lookahead_ms must be at most {MAX_LOOKAHEAD_MS:g}, got {self.lookahead_ms!r}")
        if self.loudness not in LOUDNESS:
            raise ValueError(f"loudness must be one of {', '.join(LOUDNESS)}, got {self.loudness!r}")
        for name in ("min_p", "note_min_p"):
            value = getattr(self, name)
            if value is not None and not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value!r}")


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
