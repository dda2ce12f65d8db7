"""The engine thread's commands, MIDI ports (hot-plug) and reports: the ``EngineControl`` half of
``perfjam.engine_loop.EngineLoop`` (split for size). Engine thread only."""

from __future__ import annotations

import threading
import time

from perfjam import midi_io
from perfjam.controls import control_vector
from perfjam.engine import StatusReport
from perfjam.model import ModelError, PerformanceModel
from perfjam.recorder import Recorder, default_recording_path, normal_priority

_perf = time.perf_counter
DEFAULT_NOTES_PER_S = 8.0
MISSING_PORT_RETRY_S = 2.0


def _quiesce() -> None:
    """Before closing a port: let JACK deliver what was just sent while this thread does not hold
    the GIL. Closing an rtmidi JACK port holds the GIL until JACK finishes its cycle; if a Python
    MIDI callback of this process is waiting for the GIL in that cycle, JACK stalls ~5 s."""
    time.sleep(0.03)


def warm_up(model: PerformanceModel, control=None) -> None:
    """A few steps, then the zero state again: onnxruntime's first runs are slow."""
    if model.info.has_controls and control is None:
        control = control_vector(DEFAULT_NOTES_PER_S)
    for _ in range(5):
        model.step(0, control)
    model.reset()


class EngineControl:
    """Needs the state and the AI/stream methods of ``EngineLoop``."""

    # --- MIDI ports and hot-plug ------------------------------------------------------------------------
    def _open_input(self, name, virtual, raise_errors=False) -> None:
        self.in_name, self.in_virtual = name, virtual
        if self.input is not None:
            _quiesce()
            self.input.close()
            self.input = None
        if name:
            try:
                self.input = midi_io.MidiInput(name, self.inbox, api=self.midi.api, virtual=virtual,
                                               client_name="perfjam-in")
            except midi_io.MidiPortError:
                pass  # "disconnected": opened when it appears
            except midi_io.MidiError as exc:
                if raise_errors:
                    raise
                self._error(str(exc))

    def _open_output(self, name, virtual, raise_errors=False) -> None:
        self.out_name, self.out_virtual = name, virtual
        if self.output is not None:
            self.output.panic()
            _quiesce()
            self.output.close()
            self.output = None
        if name:
            try:
                self.output = midi_io.MidiOutput(name, api=self.midi.api, virtual=virtual,
                                                 client_name="perfjam-out")
            except midi_io.MidiPortError:
                pass
            except midi_io.MidiError as exc:
                if raise_errors:
                    raise
                self._error(str(exc))

    def _check_ports(self, now: float, idle: bool) -> None:
        """Hot-plug. A port that was open is checked cheaply (one listing on its own client). A
        port never found needs a new MIDI client per try, which python-rtmidi creates holding the
        GIL (tens to hundreds of ms on JACK): tried every ``MISSING_PORT_RETRY_S``, and only
        while the AI is idle (nothing due or being generated), never under its notes."""
        if self.input is not None:
            if self.input.check() and not self.input.connected:
                self._human_lost()
        if self.output is not None:
            if self.output.check() and self.output.connected:
                self.output.panic()  # whatever was left sounding on the device before it went away
        missing_in = self.input is None and self.in_name and not self.in_virtual
        missing_out = self.output is None and self.out_name and not self.out_virtual
        if (missing_in or missing_out) and idle and now >= self.next_probe_s:
            self.next_probe_s = now + MISSING_PORT_RETRY_S
            if missing_in:
                self._open_input(self.in_name, False)
            if missing_out:
                self._open_output(self.out_name, False)

    def _human_lost(self) -> None:
        """The human's notes end: synth, thru, and the model hears the release."""
        if self.synth is not None:
            self.synth.all_notes_off(self.human_ch)
        if self.output is not None and self.midi.thru:
            for channel, pitch in sorted(self.output.sounding_notes()):
                if channel == self.midi.thru_channel:
                    self.output.send((0x80 | channel, pitch, 0))
            self.output.control_change(self.midi.thru_channel, midi_io.CC_ALL_NOTES_OFF, 0)
        stream = self.stream
        if self.mode != "solo" and stream.encoder.folder.sounding:
            stream.rollback(self.clock.step_at(_perf()), require_sent=True)
            stream.commit()
            heard = stream.release_human(_perf(), self.control)
            if self.cfg.keep_heard:
                self.heard.extend(heard)

    def _port_state(self, port, name) -> str:
        if not name:
            return "none"
        return port.state if port is not None else "disconnected"

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
            self._human_lost()
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
        self._cmd_stop_recording()
        for recorder in self.finishing:
            recorder.wait(30.0)
            if recorder.error:
                self._error(recorder.error)
        self.finishing.clear()
        self.reports.put(self.status())
