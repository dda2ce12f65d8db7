"""The one bridge between the GUI and the live engine.

The engine runs on its own thread and knows nothing about Qt. It puts reports (notes played,
status, errors) on ``engine.reports``, a ``queue.SimpleQueue``; a GUI-thread timer drains that
queue without ever blocking and re-emits each report as a Qt signal, so reports reach the widgets
queued, in order, on the GUI thread. GUI actions go the other way as engine commands, each of
which only puts a small tuple on the engine's inbox: nothing here waits for the engine.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from perfjam.engine import VIRTUAL_INPUT, ErrorReport, NoteReport, PedalReport, PlanReport, StatusReport

POLL_MS = 8
MAX_REPORTS_PER_TICK = 5000  # a flood of reports can never freeze the window


class EngineBridge(QObject):
    noteEvent = Signal(object)  # NoteReport: source, pitch, velocity, is_on, time_s
    status = Signal(object)  # StatusReport (the newest of each drain only)
    pedalEvent = Signal(object)  # PedalReport: the human's sustain pedal changed
    plan = Signal(object)  # PlanReport: the AI's look-ahead (the newest of each drain only)
    error = Signal(str)
    warning = Signal(str)  # ErrorReport(level="warning")
    engineChanged = Signal(object)  # the engine, once one exists (after a model loads)

    def __init__(
        self,
        engine: Any | None = None,
        engine_factory: Callable[[str], Any] | None = None,
        poll_ms: int = POLL_MS,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.engine = engine
        self.engine_factory = engine_factory  # builds and starts an engine from a model name/path
        self.reports_drained = 0
        self._stopped = False
        self._timer = QTimer(self)
        self._timer.timeout.connect(self.drain)
        self._timer.start(poll_ms)

    # ---- reports ------------------------------------------------------------------------------
    def drain(self) -> int:
        """Emit every report waiting now (up to a cap); returns how many. Never blocks."""
        if self.engine is None:
            return 0
        reports: queue.SimpleQueue = self.engine.reports
        last_status = last_plan = None
        n = 0
        while n < MAX_REPORTS_PER_TICK:
            try:
                report = reports.get_nowait()
            except queue.Empty:
                break
            n += 1
            if isinstance(report, NoteReport):
                self.noteEvent.emit(report)
            elif isinstance(report, StatusReport):
                last_status = report
            elif isinstance(report, PlanReport):
                last_plan = report
            elif isinstance(report, PedalReport):
                self.pedalEvent.emit(report)
            elif isinstance(report, ErrorReport):
                (self.warning if report.level == "warning" else self.error).emit(report.message)
        if last_plan is not None:
            self.plan.emit(last_plan)
        if last_status is not None:
            self.status.emit(last_status)
        self.reports_drained += n
        return n

    # ---- commands -----------------------------------------------------------------------------
    def _send(self, name: str, *args: Any, **kwargs: Any) -> bool:
        if self.engine is None:
            return False
        getattr(self.engine, name)(*args, **kwargs)
        return True

    def set_temperature(self, t: float) -> None:
        self._send("set_temperature", float(t))

    def set_mode(self, mode: str) -> None:
        self._send("set_mode", mode)

    def set_response(self, gap_ms: int, length_s: float) -> None:
        self._send("set_response", int(gap_ms), float(length_s))

    def set_controls(self, notes_per_s: float | None, pitch_histogram: Any | None) -> None:
        self._send("set_controls", notes_per_s=notes_per_s, pitch_histogram=pitch_histogram)

    def load_model(self, name_or_path: str) -> None:
        if self.engine is not None:
            self.engine.load_model(name_or_path)
            return
        if self.engine_factory is None:
            self.error.emit("No engine: cannot load a model")
            return
        try:
            self.engine = self.engine_factory(name_or_path)
        except Exception as exc:  # a bad model file must never take the window down
            self.error.emit(str(exc))
            return
        self.engineChanged.emit(self.engine)

    def set_soundfont(self, path: str) -> None:
        self._send("set_soundfont", path)

    def set_midi_input(self, name: str | None) -> None:
        """Play from the port ``name``; with None, from PerfJam's own virtual input port
        (``VIRTUAL_INPUT``), which other programs and keyboards can be routed to."""
        if name is None:
            self._send("set_midi_input", VIRTUAL_INPUT, virtual=True)
        else:
            self._send("set_midi_input", name)

    def set_midi_output(self, name: str | None) -> None:
        self._send("set_midi_output", name)

    def human_note_on(self, pitch: int, velocity: int) -> None:
        if not self._send("human_note_on", int(pitch), int(velocity)):
            self.noteEvent.emit(NoteReport("human", pitch, velocity, True, time.perf_counter()))

    def human_note_off(self, pitch: int) -> None:
        if not self._send("human_note_off", int(pitch)):
            self.noteEvent.emit(NoteReport("human", pitch, 0, False, time.perf_counter()))

    def human_pedal(self, down: bool) -> None:
        self._send("human_pedal", bool(down))

    def set_playing(self, playing: bool) -> None:
        self._send("set_playing", bool(playing))

    def set_paused(self, paused: bool) -> None:
        self._send("set_paused", bool(paused))

    def answer_now(self) -> None:
        self._send("answer_now")

    def set_follow_key(self, on: bool) -> None:
        self._send("set_follow_key", bool(on))

    def set_loudness(self, loudness: str) -> None:
        self._send("set_loudness", loudness)

    def set_answer_cc(self, cc: int | None) -> None:
        self._send("set_answer_cc", cc)

    def set_audio_drivers(self, drivers: tuple[str, ...]) -> None:
        self._send("set_audio_drivers", tuple(drivers))

    def set_midi_channels(self, out_channel: int, thru: bool, thru_channel: int) -> None:
        """0-based channels."""
        self._send("set_midi_channels", int(out_channel), bool(thru), int(thru_channel))

    def set_seed(self, seed: int | None) -> None:
        self._send("set_seed", seed)

    def panic(self) -> None:
        self._send("panic")

    def start_recording(self, path: str | None = None) -> None:
        self._send("start_recording", path)

    def stop_recording(self) -> None:
        self._send("stop_recording")

    def shutdown(self) -> None:
        """Stop the engine: releases every note and finalises a recording (blocks until done)."""
        self._timer.stop()
        if self.engine is not None and not self._stopped:
            self._stopped = True
            self.engine.stop()
            self.drain()
