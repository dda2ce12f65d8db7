"""What the engine thread tells the rest of the app, on ``Engine.reports``: plain records that
depend on nothing (the GUI and the CLI read them on their own threads)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class NoteReport:
    source: str  # "human" | "ai"
    pitch: int
    velocity: int
    is_on: bool
    time_s: float  # human: arrival (callback stamp); ai: its scheduled time


@dataclass(frozen=True, slots=True)
class PedalReport:
    source: str  # "human"
    down: bool  # the sustain pedal went down (True) or up
    time_s: float  # arrival (callback stamp)


@dataclass(frozen=True, slots=True)
class PlanReport:
    """The AI's look-ahead: the note-ons generated but not yet sounding, (time_s, pitch, velocity)
    with time_s their scheduled perf_counter time; each report replaces the last (a rollback
    withdraws what it dropped)."""

    notes: tuple[tuple[float, int, int], ...]
    time_s: float


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
    engine_load: float = 0.0  # the engine thread's busy fraction since the last status (0..1)
    follow_key: bool = False
    key_histogram: tuple[float, ...] | None = None  # the pitch classes asked of the model (None: free)


@dataclass(frozen=True, slots=True)
class ErrorReport:
    message: str
    level: str = "error"  # "error" | "warning" (the app plays on as it is; the player should know)
