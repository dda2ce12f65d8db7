"""The engine thread's commands and reports: the ``EngineControl`` half of
``perfjam.engine_loop.EngineLoop`` (split for size; its MIDI ports are ``perfjam.engine_ports``).
Engine thread only."""

from __future__ import annotations

import threading
import time

from perfjam.controls import control_vector
from perfjam.engine import StatusReport
from perfjam.engine_ports import EnginePorts, _quiesce
from perfjam.model import ModelError, PerformanceModel
from perfjam.recorder import Recorder, default_recording_path, normal_priority

_perf = time.perf_counter
DEFAULT_NOTES_PER_S = 8.0


def warm_up(model: PerformanceModel, control=None) -> None:
    """A few steps, then the zero state again: onnxruntime's first runs are slow."""
    if model.info.has_controls and control is None:
        control = control_vector(DEFAULT_NOTES_PER_S)
    for _ in range(5):
        model.step(0, control)
    model.reset()


class EngineControl(EnginePorts):
    """Needs the state and the AI/stream methods of ``EngineLoop``."""

    # --- reports ----------------------------------------------------------------------------------------
    def status(self) -> StatusReport:
        now = _perf()
        if not self.playing:
            state = "stopped"
        elif self.mode == "call":
            state = "answering" if self.answering else "listening"
        elif self.mode == "duet" and not self.duet_started:
            state = "waiting"
        else:
            state = "playing"
        rec = self.recorder
        return StatusReport(
            midi_in=self.in_name or "", midi_out=self.out_name or "",
            audio=self.synth.audio_status if self.synth is not None else "no audio",
            mode=self.mode, temperature=self.temperature, model_name=self.model.info.name,
            has_controls=self.model.info.has_controls,
            step_ms_p50=self.step_time.recent(50), step_ms_p99=self.step_time.recent(99),
            late_notes=self.late, events_per_s=self.events_per_s,
            recording_path=str(rec.path) if rec is not None else None,
            recording_elapsed_s=rec.elapsed_s(now) if rec is not None else 0.0,
            playing=self.playing,
            midi_in_state=self._port_state(self.input, self.in_name),
            midi_out_state=self._port_state(self.output, self.out_name),
            state=state, events_in=self.events_in, events_out=self.events_out,
            timing_error_ms_p99=self.timing_error.recent(99),
            thru_latency_ms_p99=self.thru_latency.recent(99),
        )

    def stats(self) -> dict:
        elapsed = _perf() - self.started_s
        return {
            "thru_latency_ms": self.thru_latency.summary(),
            "ai_timing_error_ms": self.timing_error.summary(),
            "model_step_ms": self.step_time.summary(),
            "thread_priority": self.priority,
            "late_notes": self.late,
            "late_examples": list(self.late_log),
            "events_in": self.events_in,
            "events_out": self.events_out,
            "model_steps": self.stream.steps_fed,
            "grammar_violations": self.stream.grammar_violations,  # events fed the grammar excludes: 0
            "steps_per_s": self.stream.steps_fed / elapsed if elapsed > 0 else 0.0,
            "elapsed_s": elapsed,
        }

    # --- commands ---------------------------------------------------------------------------------------
    def _cmd_stop(self) -> None:
        self.stopping = True

    def _cmd_query(self, fn, box, done) -> None:
        try:
            box.append(fn(self))
        except Exception as exc:
            box.append(exc)
        done.set()

    def _cmd_temperature(self, t: float) -> None:
        self.temperature = t
        self._regenerate()
        self.reports.put(self.status())

    def _cmd_top_p(self, top_p) -> None:
        self.top_p = top_p
        self._regenerate()

    def _cmd_controls(self, notes_per_s, histogram) -> None:
        self.notes_per_s, self.histogram = notes_per_s, histogram
        self._update_control()
        self._regenerate()

    def _cmd_response(self, gap_ms, length_s) -> None:
        if gap_ms is not None:
            self.gap_s = gap_ms / 1000.0
        if length_s is not None:
            self.length_s = length_s

    def _cmd_mode(self, mode: str, primer) -> None:
        self._stop_ai()
        self.mode = mode
        self._reset_roles()
        if mode == "solo" and (primer or self.cfg.primer):
            self._load_primer(primer or self.cfg.primer)
        self.reports.put(self.status())

    def _cmd_playing(self, playing: bool) -> None:
        if not playing:
            self._stop_ai()
        self.playing = playing
        self._reset_roles()
        self.reports.put(self.status())

    def _cmd_panic(self) -> None:
        self._stop_ai()
        self._human_lost()
        if self.synth is not None:
            self.synth.all_notes_off()
        if self.output is not None:
            self.output.panic()
        self._reset_roles()

    def _cmd_load_model(self, path_or_name) -> None:
        def load() -> None:
            normal_priority()  # not the engine thread's real-time priority for seconds of work
            try:
                model = PerformanceModel.load(path_or_name)
                warm_up(model)
                self.inbox.put(("model_ready", model))
            except (ModelError, OSError) as exc:
                self.inbox.put(("model_ready", exc))

        threading.Thread(target=load, name="perfjam-model-loader", daemon=True).start()

    def _cmd_model_ready(self, model) -> None:
        if isinstance(model, Exception):
            self._error(str(model))
            return
        self._stop_ai()
        self._new_stream(model, max(self.clock.step_at(_perf()), self.stream.step))
        self._reset_roles()
        self.reports.put(self.status())

    def _cmd_soundfont(self, path) -> None:
        if self.synth is None:
            return
        self._stop_ai()
        try:
            self.synth.load_soundfont(path)
        except Exception as exc:  # SynthError
            self._error(str(exc))

    def _cmd_midi_input(self, name, virtual) -> None:
        if self.input is not None:
            if self.input.inbox is None:
                for time_s, message in self.input.iter_pending():  # played before the switch
                    self._on_midi(time_s, message)
            if self.human_queue:
                self._hear_humans()
            self._human_lost(gentle=True)
        self._open_input(name, virtual)
        self.reports.put(self.status())

    def _cmd_midi_output(self, name, virtual) -> None:
        self._open_output(name, virtual)
        self.reports.put(self.status())

    def _cmd_record(self, path) -> None:
        if self.recorder is not None:
            self._error(f"already recording to {self.recorder.path}")
            return
        try:
            recorder = Recorder(path or default_recording_path(), speed=self.clock.speed)
            recorder.start(_perf())
        except OSError as exc:
            self._error(f"cannot record: {exc}")
            return
        self.recorder = recorder
        self.reports.put(self.status())

    def _cmd_stop_recording(self) -> None:
        if self.recorder is not None:
            self.recorder.stop()
            self.finishing.append(self.recorder)
            self.recorder = None
            self.reports.put(self.status())

    # --- shutdown ---------------------------------------------------------------------------------------
    def _shutdown(self) -> None:
        steps = (self._stop_ai, self._close_all)
        for step in steps:
            try:
                step()
            except Exception as exc:
                self._error(f"engine stop: {type(exc).__name__}: {exc}")

    def _close_all(self) -> None:
        self._human_lost()
        if self.synth is not None:
            self.synth.all_notes_off()
        if self.output is not None:
            self.output.panic()
        _quiesce()
        if self.input is not None:
            self.input.close()
        if self.output is not None:
            self.output.close()
        if self.port_lister is not None:
            self.port_lister.close()
            self.port_lister = None
        self._cmd_stop_recording()
        for recorder in self.finishing:
            recorder.wait(30.0)
            if recorder.error:
                self._error(recorder.error)
        self.finishing.clear()
        self.reports.put(self.status())
