"""The engine thread: ``EngineLoop.run`` (see ``perfjam.engine`` for the design and the API).

Everything here runs on the engine thread only; other threads reach it through ``inbox``.
"""

from __future__ import annotations

import gc
import math
import os
import queue
import sys
import threading
import time
from collections import deque

from perfjam import midi_io
from perfjam.controls import control_vector, no_control_vector
from perfjam.engine import ErrorReport, NoteReport
from perfjam.engine_control import DEFAULT_NOTES_PER_S, EngineControl, warm_up
from perfjam.model import PerformanceModel, Sampler
from perfjam.recorder import AI, HUMAN, Recorder
from perfjam.scheduler import AiNote, Clock, HeardNote, LiveStream, TimingStat

PRIMER_MAX_S = 10.0
GIL_SWITCH_INTERVAL_S = 0.0002
SLOW_WORK_CLEARANCE_S = 0.004  # port checks and status only when no AI note is due this soon
_perf = time.perf_counter


def raise_priority(rt_priority: int) -> str:
    """Ask for SCHED_FIFO ``rt_priority`` for the calling thread (below JACK's, which runs at
    70+), else a nice level of -10, else nothing; the outcome in words."""
    if rt_priority <= 0 or not hasattr(os, "sched_setscheduler"):
        return "normal"
    tid = threading.get_native_id()
    try:
        os.sched_setscheduler(tid, os.SCHED_FIFO, os.sched_param(rt_priority))
        return f"SCHED_FIFO {rt_priority}"
    except OSError:
        pass
    try:
        os.setpriority(os.PRIO_PROCESS, tid, -10)
        return "nice -10"
    except OSError:
        return "normal"


class EngineLoop(EngineControl):
    def __init__(self, engine) -> None:
        cfg = engine.config
        self.engine = engine
        self.inbox: queue.SimpleQueue = engine.inbox
        self.reports: queue.SimpleQueue = engine.reports
        self.cfg = cfg
        self.mode = cfg.mode
        self.temperature = cfg.temperature
        self.top_p = cfg.top_p
        self.gap_s = cfg.gap_ms / 1000.0
        self.length_s = cfg.response_length_s
        self.notes_per_s = cfg.notes_per_s
        self.histogram = cfg.pitch_histogram
        self.playing = cfg.playing
        self.lookahead_s = cfg.lookahead_ms / 1000.0
        self.late_s = cfg.late_ms / 1000.0
        self.spin_s = cfg.spin_ms / 1000.0
        self.sampler = Sampler(cfg.seed)
        self.synth = engine.synth
        self.human_ch = self.synth.config.human_channel if self.synth else 0
        self.ai_ch = self.synth.config.ai_channel if self.synth else 1
        self.thru_latency, self.timing_error, self.step_time = TimingStat(), TimingStat(), TimingStat()
        self.events_in = self.events_out = self.late = 0
        self.late_log: deque = deque(maxlen=32)  # (error_ms, ms since the turn began, pitch)
        self.turn_s = 0.0
        self.heard: deque[HeardNote] = deque()
        self.human_queue: list = []
        self.ai_open: dict[int, float] = {}  # safety net: AI pitch -> wall time sent on
        self.recorder: Recorder | None = None
        self.finishing: list[Recorder] = []
        self.stopping = False
        self.priority = "normal"
        self.errors_in_a_row = 0
        self.guard_s = 0.002
        self.forced: deque[int] = deque()
        self.midi = engine.midi
        self.input = self.output = None
        self.gc_was_enabled = False
        self.start_error: BaseException | None = None

    def _start(self) -> None:
        """On the engine thread, before the loop: priority, GC, ports, clock, model stream. The
        ports are opened here so that JACK's client threads inherit this thread's priority."""
        cfg = self.cfg
        self.priority = raise_priority(cfg.realtime_priority)
        if sys.getswitchinterval() > GIL_SWITCH_INTERVAL_S:
            # Waking for a due note, this thread waits at most this long for a GIL held by another
            # Python thread (the default is 5 ms); the spin margin (spin_ms) absorbs it.
            sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
        if cfg.manage_gc and gc.isenabled():
            # A cyclic GC pass holds the GIL for milliseconds (hundreds with a big heap), whichever
            # thread triggers it. While the engine runs, its thread collects, in quiet moments.
            gc.collect()
            gc.freeze()
            gc.disable()
            self.gc_was_enabled = True
        # A MidiError (no usable MIDI API) reaches Engine.start's caller.
        self._open_input(self.midi.input_name, self.midi.input_virtual, raise_errors=True)
        self._open_output(self.midi.output_name, self.midi.output_virtual, raise_errors=True)
        self.clock = Clock(_perf(), cfg.speed)
        self.reaction_steps = max(1, self.clock.steps(cfg.reaction_ms / 1000.0 * cfg.speed))
        self._new_stream(self.engine.model, 0)
        self._reset_roles()
        if self.mode == "solo" and cfg.primer:
            self._load_primer(cfg.primer)
        now = _perf()
        self.next_status_s = self.next_check_s = self.next_safety_s = self.next_gc_s = now
        self.next_probe_s = now
        self.gc_count = 0
        self.steps_mark = (now, 0)
        self.events_per_s = 0.0
        self.started_s = now

    # --- setup helpers ---------------------------------------------------------------------------
    def _new_stream(self, model: PerformanceModel, start_step: int) -> None:
        self.model = model
        self._update_control()
        warm_up(model, self.control)
        self.stream = LiveStream(model, self.clock, start_step, self.clock.steps(self.cfg.max_note_s))

    def _update_control(self) -> None:
        size = self.model.info.control_size
        if size and self.notes_per_s is None and self.histogram is None:
            self.control = no_control_vector(size)  # play freely (a model without the flag: 8 notes/s)
        elif size:
            nps = DEFAULT_NOTES_PER_S if self.notes_per_s is None else self.notes_per_s
            self.control = control_vector(nps, self.histogram, size)
        else:
            self.control = None

    def _reset_roles(self) -> None:
        self.answering = False
        self.heard_since_answer = False
        self.duet_started = False
        self.answer_end_step: int | None = None
        self.last_human_s = -math.inf

    def _error(self, message: str) -> None:
        self.reports.put(ErrorReport(message))

    def _load_primer(self, path) -> None:
        from perfjam.generate import primer_from_midi

        try:
            events = primer_from_midi(path, self.stream.vocab)
        except Exception as exc:  # a missing or unreadable MIDI file
            self._error(f"primer {path}: {exc}")
            return
        limit, steps, kept = self.clock.steps(PRIMER_MAX_S), 0, []
        shift = self.stream.shift_steps
        for event in events:
            steps += shift[event]
            if steps > limit:
                break
            kept.append(event)
        self.forced = deque(kept)

    # --- the loop ----------------------------------------------------------------------------------
    def run(self, ready: threading.Event) -> None:
        try:
            self._start()
        except BaseException as exc:
            self.start_error = exc
            for port in (self.input, self.output):
                if port is not None:
                    port.close()
            if self.gc_was_enabled:
                gc.enable()
            return
        finally:
            ready.set()
        try:
            while not self.stopping:
                item = self._next_item(self._wait_timeout())  # reads the MIDI input while it waits
                self.turn_s = _perf()
                try:
                    self._turn(item)
                    self.errors_in_a_row = 0
                except Exception as exc:  # a bug must not leave notes hanging or kill the thread
                    self.errors_in_a_row += 1
                    self._error(f"engine: {type(exc).__name__}: {exc}")
                    self._stop_ai()
                    if self.errors_in_a_row > 3:
                        self.playing = False
        finally:
            self._shutdown()
            if self.gc_was_enabled:
                gc.enable()

    def _turn(self, item) -> None:
        get = self.inbox.get
        while item is not None:
            if item[0].__class__ is float:
                self._on_midi(item[0], item[1])
            else:
                getattr(self, "_cmd_" + item[0])(*item[1:])
                if self.stopping:
                    return
            try:
                item = get(False)
            except queue.Empty:
                item = None
        if self.human_queue:
            self._hear_humans()
        if self.stream.human_pending:
            self._flush_humans(_perf())
        self._send_due()
        if self.mode == "call" and not self.answering and self.playing:
            self._maybe_answer()
        self._generate()
        self._housekeeping()

    def _active(self) -> bool:
        if not self.playing:
            return False
        if self.mode == "call":
            return self.answering
        return self.mode == "solo" or self.duet_started

    def _wait_timeout(self) -> float:
        now = _perf()
        t = now + self.cfg.wait_cap_ms / 1000.0
        pending = self.stream.pending
        if pending and pending[0].time_s - self.spin_s < t:
            t = pending[0].time_s - self.spin_s  # then _send_due spins to the exact time
        human_due_s = self.stream.human_due_s
        if human_due_s is not None:
            t = min(t, human_due_s)  # the human's step is over: the model hears it (no generating before)
        elif self._active():
            generate_at = self.stream.horizon_s - self.lookahead_s
            if pending and pending[0].time_s - now < self.guard_s + self.spin_s:
                generate_at = pending[0].time_s - self.spin_s  # that note first (see _generate)
            t = min(t, generate_at)
        elif self.mode == "call" and self.heard_since_answer and self.playing:
            t = min(t, self.last_human_s + self.gap_s / self.clock.speed)
        return t - now

    # --- human input ---------------------------------------------------------------------------
    def _on_midi(self, time_s: float, msg) -> None:
        """Thru first: synth and MIDI out, then recording, report, and the model's queue."""
        self.events_in += 1
        if len(msg) < 3:
            return
        kind = msg[0] & 0xF0
        synth, out = self.synth, self.output
        thru = self.midi.thru and out is not None
        if kind == 0x90 or kind == 0x80:
            pitch, velocity = msg[1], msg[2]
            on = kind == 0x90 and velocity > 0
            t = _perf()
            if synth is not None:
                if on:
                    synth.note_on(self.human_ch, pitch, velocity)
                else:
                    synth.note_off(self.human_ch, pitch)
            if thru:
                out.send((kind | self.midi.thru_channel, pitch, velocity))
            self.thru_latency.add(t - time_s)
            self.last_human_s = time_s
            if self.cfg.note_reports:
                self.reports.put(NoteReport("human", pitch, velocity if on else 0, on, time_s))
        elif kind == 0xB0:
            if synth is not None:
                synth.control_change(self.human_ch, msg[1], msg[2])
            if thru:
                out.send((0xB0 | self.midi.thru_channel, msg[1], msg[2]))
            if msg[1] != 64:
                return
        elif kind == 0xE0:
            if thru:
                out.send((0xE0 | self.midi.thru_channel, msg[1], msg[2]))
        else:
            return
        if self.recorder is not None:
            self.recorder.add(time_s, HUMAN, msg)
        if kind != 0xE0:
            self.human_queue.append((time_s, msg))

    def _hear_humans(self) -> None:
        batch, self.human_queue = self.human_queue, []
        if self.mode == "solo":
            return  # solo: the model plays on its own; the keyboard only sounds
        stream = self.stream
        stream.rollback(self.clock.step_at(batch[0][0]), require_sent=True)
        stream.commit()
        struck = False
        for time_s, msg in batch:
            heard = stream.hear_human(time_s, msg, self.control)
            if self.cfg.keep_heard:
                self.heard.extend(heard)
            struck = struck or (msg[0] & 0xF0 == 0x90 and msg[2] > 0)
        if struck:
            self.heard_since_answer = True
            self.duet_started = True
            if self.mode == "call" and (self.answering or stream.reader.sounding):
                self.answering = False  # the human plays again: the answer ends now
                self.answer_end_step = None
                self._release_ai()

    def _flush_humans(self, now: float) -> None:
        """The model hears the human's actions of every 10 ms step over by ``now`` (a step's
        actions are held until it is over, to be heard in note-seq's order)."""
        heard = self.stream.flush_human(now, self.control)
        if self.cfg.keep_heard:
            self.heard.extend(heard)

    # --- AI output ---------------------------------------------------------------------------------
    def _send(self, note: AiNote, scheduled: bool) -> float:
        """One AI note action to the synth and MIDI out; returns the time it was sent."""
        t = _perf()
        pitch, synth, out = note.pitch, self.synth, self.output
        if note.is_on:
            if pitch in self.ai_open:  # a re-strike is off, then on, whatever the stream sent
                if synth is not None:
                    synth.note_off(self.ai_ch, pitch)
                if out is not None:
                    out.send((0x80 | self.midi.out_channel, pitch, 0))
            if synth is not None:
                synth.note_on(self.ai_ch, pitch, note.velocity)
            if out is not None:
                out.send((0x90 | self.midi.out_channel, pitch, note.velocity))
            self.ai_open[pitch] = t
        else:
            if synth is not None:
                synth.note_off(self.ai_ch, pitch)
            if out is not None:
                out.send((0x80 | self.midi.out_channel, pitch, 0))
            self.ai_open.pop(pitch, None)
        if not scheduled:
            self._sent(note, t, False)
        return t

    def _sent(self, note: AiNote, t: float, scheduled: bool) -> None:
        """Bookkeeping after sending: timing, recording, report, the heard log."""
        pitch = note.pitch
        if scheduled:
            error = t - note.time_s
            self.timing_error.add(error)
            if error > self.late_s:
                self.late += 1
                self.late_log.append((round(error * 1000, 3), round((t - self.turn_s) * 1000, 3), pitch, t))
        self.events_out += 1
        at = note.time_s if scheduled else t
        if self.recorder is not None:
            self.recorder.add(at, AI, (0x90 if note.is_on else 0x80, pitch, note.velocity))
        if self.cfg.note_reports:
            self.reports.put(NoteReport("ai", pitch, note.velocity, note.is_on, at))
        if self.cfg.keep_heard and not note.restrike:
            self.heard.append(HeardNote(note.step, "ai", pitch, note.velocity, note.is_on))

    def _send_due(self) -> None:
        """Every due AI note, sent first (a chord goes out together), bookkeeping after. A note
        due within ``spin_ms`` is waited for by spinning: the timed wait ends that early."""
        pending, stream = self.stream.pending, self.stream
        if not pending:
            return
        now = _perf()
        due = pending[0].time_s
        if now < due:
            if due - now > self.spin_s:
                return
            while _perf() < due:
                pass
        sent = []
        while pending and pending[0].time_s <= _perf():
            note = pending.popleft()
            sent.append((note, self._send(note, True)))
        for note, t in sent:
            self._sent(note, t, True)
            stream.mark_sent(note.seq)

    def _release_ai(self) -> None:
        """Note-offs now for every sounding AI note; the model hears them. Look-ahead must be
        rolled back and committed."""
        now = _perf()
        self._flush_humans(now)  # the human's finished steps first: the offs must not pass them
        step = max(self.clock.step_at(now), self.stream.step)
        for note in self.stream.release_ai(step, self.control):
            self._send(note, False)

    def _stop_ai(self) -> None:
        """Discard the look-ahead, release the AI's notes, All Notes Off on its channels."""
        stream = self.stream
        stream.discard_to_now(self.clock.step_at(_perf()))
        self.forced.clear()
        self._release_ai()
        for pitch in list(self.ai_open):
            self._send(AiNote(_perf(), pitch, 0, False, -1, stream.step), False)
        if self.synth is not None:
            self.synth.all_notes_off(self.ai_ch)
        if self.output is not None:
            self.output.control_change(self.midi.out_channel, midi_io.CC_ALL_NOTES_OFF, 0)
        self.answering = False
        self.answer_end_step = None

    # --- generation ----------------------------------------------------------------------------------
    def _maybe_answer(self) -> None:
        now = _perf()
        if (self.heard_since_answer and not self.stream.human_keys_down()
                and now - self.last_human_s >= self.gap_s / self.clock.speed):
            self.answering = True
            self.heard_since_answer = False
            start = self.clock.step_at(now) + self.reaction_steps
            self.answer_end_step = start + self.clock.steps(self.length_s)

    def _generate(self) -> None:
        if not self._active() or self.stream.human_pending:
            return  # generation resumes once the model has heard the human's step (<= 10 ms)
        stream, clock, inbox_empty = self.stream, self.clock, self.inbox.empty
        pending, lookahead, guard = stream.pending, self.lookahead_s, self.guard_s + self.spin_s
        end_step = self.answer_end_step if self.mode == "call" else None
        while True:
            now = _perf()
            if stream.horizon_s >= now + lookahead or not inbox_empty() or self._pump_input():
                return
            if pending and pending[0].time_s - now < guard:
                return  # send it first (a step could make it late); generation resumes after
            min_step = clock.step_at(now) + self.reaction_steps
            if self.forced and stream.step >= min_step:
                stream.push_forced((self.forced.popleft(),), self.control)
                more = True
            else:
                more = stream.generate(self.sampler, self.temperature, self.top_p, self.control,
                                       min_step, end_step)
            self.step_time.add(_perf() - now)
            if not more:  # call: the answer is complete (every note released)
                self.answering = False
                self.answer_end_step = None
                return

    def _regenerate(self) -> None:
        """Settings changed: regenerate the look-ahead beyond the next ``reaction_ms``."""
        if self._active():
            cut = self.clock.step_at(_perf()) + self.reaction_steps
            self.stream.rollback(cut, require_sent=False)

    # --- housekeeping ----------------------------------------------------------------------------------
    def _housekeeping(self) -> None:
        now = _perf()
        pending = self.stream.pending
        clearance = pending[0].time_s - now if pending else math.inf
        if clearance < SLOW_WORK_CLEARANCE_S:
            return
        if self.gc_was_enabled and now >= self.next_gc_s:
            self._collect(now, clearance)
        if not self._active() and not self.stream.spec and not pending and not self.stream.human_pending:
            self.stream.catch_up(self.clock.step_at(now), self.control)
        if now >= self.next_check_s:
            self.next_check_s = now + self.cfg.hotplug_interval_s
            self._check_ports(now, idle=not pending and not self._active())
        if now >= self.next_safety_s:
            self.next_safety_s = now + 0.1
            limit = self.cfg.max_note_s / self.clock.speed + 1.0
            for pitch, sent in list(self.ai_open.items()):
                if now - sent > limit and pitch not in self.stream.reader.sounding:
                    self._send(AiNote(now, pitch, 0, False, -1, self.stream.step), False)
        if now >= self.next_status_s:
            self.next_status_s = now + self.cfg.status_interval_s
            self.guard_s = min(0.005, self.step_time.recent(99) / 1000.0 + 0.0003)
            last_t, last_n = self.steps_mark
            if now - last_t >= 1.0:
                self.events_per_s = (self.stream.steps_fed - last_n) / (now - last_t)
                self.steps_mark = (now, self.stream.steps_fed)
            recorder = self.recorder
            if recorder is not None and recorder.error:
                self._error(recorder.error)
                self.recorder = None
            for done in [r for r in self.finishing if not r.running]:
                self.finishing.remove(done)
                if done.error:
                    self._error(done.error)
            self.reports.put(self.status())

    def _collect(self, now: float, clearance: float) -> None:
        """Young garbage every 50 ms, older every second, all every 30 s, when nothing is due."""
        if self._active() and self.stream.horizon_s < now + self.lookahead_s / 2:
            return  # generation is catching up
        self.gc_count += 1
        if self.gc_count % 600 == 0 and clearance > 0.05:
            gc.collect(2)
        elif self.gc_count % 20 == 0 and clearance > 0.01:
            gc.collect(1)
        else:
            gc.collect(0)
        self.next_gc_s = _perf() + 0.05
