"""The engine thread: ``EngineLoop.run`` (see ``perfjam.engine`` for the design and the API).

Everything here runs on the engine thread only; other threads reach it through ``inbox``. The
loop composes the engine's parts and does the timing between them:

* ``EnginePorts`` (``perfjam.live.ports``): the MIDI ports, the polled input, hot-plug;
* ``Outlets`` (``perfjam.live.outlets``): synth and MIDI out, what each side left sounding;
* ``TurnPolicy`` (``perfjam.live.policy``): when the AI plays (call / duet / solo);
* ``TurnPacer`` (``perfjam.live.pacing``): when the thread wakes, and its turns' work slices;
* ``LiveStream`` (``perfjam.live.stream``): the model's view, its look-ahead and rollback;
* ``COMMANDS`` (``perfjam.live.commands``): what the GUI and the CLI may ask;
* ``Takes`` (``perfjam.live.takes``): the recording, and the takes still being finished.
"""

from __future__ import annotations

import math
import queue
import threading
import time
from collections import deque

from perfjam.codec.pedal import SUSTAIN_CC
from perfjam.live.accompany import DUET_MAX_NOTE_S, Accompanist
from perfjam.live.audio import AudioKeeper
from perfjam.live.clock import AiNote, Clock, HeardNote
from perfjam.live.commands import COMMANDS
from perfjam.live.outlets import ALL_OFF_CCS, CONTROL_CHANGE, NOTE_OFF, NOTE_ON, PITCH_BEND, Outlets
from perfjam.live.pacing import TurnPacer
from perfjam.live.policy import TurnPolicy
from perfjam.live.ports import EnginePorts
from perfjam.live.realtime import QuietGC, TimingStat, lock_realtime_pages, raise_priority, shorten_gil_switch
from perfjam.live.reports import ErrorReport, NoteReport, PedalReport, PlanReport, StatusReport
from perfjam.live.safety import SAFETY_CHECK_S, check_safety
from perfjam.live.sender import AiSender
from perfjam.live.status import measure, run_stats, status_report
from perfjam.live.steering import Steering
from perfjam.live.stream import LiveStream
from perfjam.live.takes import HUMAN, Takes
from perfjam.model import ModelError, PerformanceModel

SLOW_WORK_CLEARANCE_S = 0.004  # port checks and status only when no AI note is due this soon
PLAN_INTERVAL_S = 0.04  # the look-ahead is reported at most this often (the GUI draws it faintly)
_perf = time.perf_counter


class EngineLoop:
    def __init__(self, engine) -> None:
        cfg = engine.config
        self.engine, self.cfg = engine, cfg
        self.inbox: queue.SimpleQueue = engine.inbox
        self.reports: queue.SimpleQueue = engine.reports
        self.steering = Steering(cfg)
        self.busy_s, self.load, self.load_mark = 0.0, 0.0, (0.0, 0.0)
        self.pacer = TurnPacer(cfg.wait_cap_ms, cfg.spin_ms, cfg.lookahead_ms, cfg.work_slice_ms,
                               cfg.pause_ms)
        self.synth = engine.synth
        self.midi = engine.midi
        self.ports = EnginePorts(self.inbox, engine.midi, cfg.input_poll_ms, cfg.hotplug_interval_s,
                                 self.error)
        self.outlets = Outlets(self.synth, self.ports, engine.midi)
        self.audio = AudioKeeper(self.synth, self.inbox)
        self.gc = QuietGC()
        self.thru_latency, self.step_time, self.turn_time = TimingStat(), TimingStat(), TimingStat()
        self.events_in = 0
        self.heard: deque[HeardNote] = deque()
        self.takes = Takes()
        self.sender = AiSender(self.outlets, self.takes, self.reports, self.heard, self.pacer, cfg.late_ms,
                               cfg.note_reports, cfg.keep_heard, self.steering)
        self.human_queue: list = []
        self.stopping = False
        self.priority = "normal"
        self.locked_bytes = 0  # of the pages JACK's threads run in (realtime.lock_realtime_pages)
        self.errors_in_a_row = 0
        self.ai_released_idle = 0  # AI notes the safety net released after generation had stopped
        self.forced: deque[int] = deque()  # solo: primer events to play as if generated
        self.start_error: BaseException | None = None

    def _start(self) -> None:
        """On the engine thread, before the loop: priority, GC, ports, clock, model stream. The
        ports are opened here so that JACK's client threads inherit this thread's priority."""
        cfg = self.cfg
        self.priority = raise_priority(cfg.realtime_priority)
        shorten_gil_switch()
        if cfg.manage_gc:
            self.gc.take_over()
        # A MidiError (no usable MIDI API) reaches Engine.start's caller.
        self.ports.open_input(self.midi.input_name, self.midi.input_virtual, raise_errors=True)
        self.ports.open_output(self.midi.output_name, self.midi.output_virtual, raise_errors=True)
        if cfg.realtime_priority > 0:
            self.locked_bytes = lock_realtime_pages()[0]  # JACK's threads must not wait for the disk
        self.clock = Clock(_perf(), cfg.speed)
        reaction_steps = max(1, self.clock.steps(cfg.reaction_ms / 1000.0 * cfg.speed))
        self.reaction_steps = reaction_steps
        self.policy = TurnPolicy(self.clock, cfg.mode, cfg.gap_ms / 1000.0, cfg.response_length_s,
                                 reaction_steps, cfg.playing)
        self.new_stream(self.engine.model, 0)
        if cfg.mode == "solo" and cfg.primer:
            self.load_primer(cfg.primer)
        now = _perf()
        self.next_status_s = self.next_check_s = self.next_safety_s = self.next_plan_s = now
        self.plan: tuple = ()
        self.steps_mark = (now, 0)
        self.events_per_s = 0.0
        self.started_s = now

    # --- setup ---------------------------------------------------------------------------------------
    def new_stream(self, model: PerformanceModel, start_step: int) -> None:
        self.model = model
        self.steering.set_model(model.info.control_size)
        model.warm_up(self.steering.control)
        self.stream = LiveStream(model, self.clock, start_step, self.clock.steps(self.cfg.max_note_s))
        self.shape_for_mode()

    def shape_for_mode(self) -> None:
        """Duet: the AI accompanies (``Accompanist``) with shorter notes; else plays as it likes."""
        duet = self.policy.mode == "duet"
        self.stream.shaper = Accompanist(self.stream.vocab) if duet else None
        max_note_s = min(self.cfg.max_note_s, DUET_MAX_NOTE_S) if duet else self.cfg.max_note_s
        self.stream.max_note_steps = self.clock.steps(max_note_s)
        self.steering.set_mode(self.policy.mode)

    def error(self, message: str, level: str = "error") -> None:
        self.reports.put(ErrorReport(message, level))

    def load_primer(self, path_or_primer) -> None:
        from perfjam.generation import Primer, PrimerError, load_primer

        try:
            primer = path_or_primer if isinstance(path_or_primer, Primer) else \
                load_primer(path_or_primer, self.stream.vocab)
        except PrimerError as exc:
            self.error(str(exc))
            return
        if primer.cut:
            self.error(primer.cut)
        self.forced = deque(primer.events)

    # --- the loop ------------------------------------------------------------------------------------
    def run(self, ready: threading.Event) -> None:
        try:
            self._start()
        except BaseException as exc:
            self.start_error = exc
            self.ports.close()
            self.gc.give_back()
            return
        finally:
            ready.set()
        try:
            while not self.stopping:
                item = self.ports.next_item(self._wait_timeout())  # reads the MIDI input while it waits
                turn_s = _perf()
                self.pacer.begin_turn(turn_s)
                try:
                    self._turn(item)
                    self.errors_in_a_row = 0
                    busy_s = _perf() - turn_s
                    self.busy_s += busy_s
                    self.turn_time.add(busy_s)
                except ModelError as exc:  # e.g. non-finite output: this model cannot play on
                    self.error(f"model: {exc}; the AI stops (load another model)")
                    self.stop_ai()
                    self.policy.playing = False
                except Exception as exc:  # a bug must not leave notes hanging or kill the thread
                    self.errors_in_a_row += 1
                    self.error(f"engine: {type(exc).__name__}: {exc}")
                    self.stop_ai()
                    if self.errors_in_a_row > 3:
                        self.policy.playing = False
        finally:
            self._shutdown()
            self.gc.give_back()

    def _turn(self, item) -> None:
        get = self.inbox.get
        while item is not None:
            if item[0].__class__ is float:
                self.on_midi(item[0], item[1])
            else:
                COMMANDS[item[0]](self, *item[1:])
                if self.stopping:
                    return
            try:
                item = get(False)
            except queue.Empty:
                item = None
        if self.human_queue:
            self.hear_humans()
        if self.stream.human_pending:
            self._flush_humans(_perf())
        self.sender.send_due(self.stream)
        policy = self.policy
        if policy.playing and policy.mode != "solo":
            policy.sound(*self.stream.human_sound())
            if policy.mode == "call" and not policy.answering:
                policy.maybe_answer(_perf())
            elif policy.mode == "duet":
                policy.maybe_rest(_perf())
        self._generate()
        self._housekeeping()

    def _wait_timeout(self) -> float:
        pending, policy = self.stream.pending, self.policy
        return self.pacer.wait_s(_perf(), pending[0].time_s if pending else None, self.stream.human_due_s,
                                 policy.active, self.stream.horizon_s, policy.answer_due_s())

    # --- human input ---------------------------------------------------------------------------------
    def on_midi(self, time_s: float, msg) -> None:
        self.events_in += 1
        if msg[0] & 0xF0 == CONTROL_CHANGE and len(msg) == 3 and msg[1] in ALL_OFF_CCS:
            for pitch in sorted(self.outlets.human_keys):  # All Notes / Sound Off: the keys are up
                self.play_human(time_s, (NOTE_OFF | msg[0] & 0x0F, pitch, 0))
            self.takes.add(time_s, HUMAN, msg)
        self.play_human(time_s, msg)

    def play_human(self, time_s: float, msg) -> None:
        """Thru first: synth and MIDI out, then recording, report, and the model's queue."""
        outlets = self.outlets
        pedal_was_down = outlets.human_pedal_down
        was_silent = not outlets.human_keys and not pedal_was_down
        key_was_down = len(msg) > 1 and msg[1] in outlets.human_keys
        if len(msg) < 3 or not outlets.human(msg):
            return
        kind = msg[0] & 0xF0
        if kind == NOTE_ON or kind == NOTE_OFF:
            self.thru_latency.add(_perf() - time_s)
            on = kind == NOTE_ON and msg[2] > 0
            if on or key_was_down:  # (a note-off of a key not down is no playing)
                self.policy.human_event(time_s, resumes=on and was_silent)
            if on:  # (the followers count in music time)
                self.steering.human_note_on(self.clock.music_s(time_s), msg[1], msg[2])
            if self.cfg.note_reports:
                self.reports.put(NoteReport("human", msg[1], msg[2] if on else 0, on, time_s))
        elif kind == CONTROL_CHANGE and msg[1] != SUSTAIN_CC:
            if self.steering.answers_now(msg[1], msg[2]) and not outlets.human_keys:
                self.answer_now()  # (a foot switch while keys are down is the pianist's, not a cue)
            return  # other controllers sound, but neither the take nor the model has them
        elif kind == CONTROL_CHANGE and outlets.human_pedal_down != pedal_was_down:
            self.policy.human_event(time_s)
            if self.cfg.note_reports:  # the pedal lane of the GUI's roll
                self.reports.put(PedalReport("human", outlets.human_pedal_down, time_s))
        self.takes.add(time_s, HUMAN, msg)
        if kind != PITCH_BEND:
            self.human_queue.append((time_s, msg))

    def hear_humans(self) -> None:
        """The model hears the queued human messages. The look-ahead is rolled back to the first
        one that can change what the model hears; a sustain-pedal message that changes nothing
        (pedal down, or up with no note held by it; a continuous pedal sends them every ~20 ms)
        is taken without touching the look-ahead."""
        batch, self.human_queue = self.human_queue, []
        if not self.policy.hears_human:
            return  # solo: the model plays on its own; the keyboard only sounds
        stream = self.stream
        encoder = stream.encoder
        first = 0
        while first < len(batch) and encoder.is_silent(batch[first][1]):
            time_s, msg = batch[first]
            encoder.take(self.clock.music_s(time_s), msg)
            first += 1
        if first == len(batch):
            return
        stream.rollback(self.clock.step_at(batch[first][0]), require_sent=True)
        stream.commit()
        struck = False
        until_s = self.pacer.slice_end_s
        for time_s, msg in batch[first:]:
            heard = stream.hear_human(time_s, msg, self.steering.control, until_s)
            if self.cfg.keep_heard:
                self.heard.extend(heard)
            struck = struck or (msg[0] & 0xF0 == NOTE_ON and msg[2] > 0)
        if stream.unheard:
            self.pacer.cut_turn()
        if struck and self.policy.human_struck(bool(stream.reader.sounding)):
            self.release_ai()  # the human plays again: the answer ends now

    def _flush_humans(self, now: float, sliced: bool = True) -> None:
        """The model hears the human's actions of every 10 ms step over by ``now`` (a step's
        actions are held until it is over, to be heard in note-seq's order); ``sliced``: within
        the turn's work slice, the rest after a pause."""
        until_s = self.pacer.slice_end_s if sliced else math.inf
        heard = self.stream.flush_human(now, self.steering.control, until_s)
        if self.cfg.keep_heard:
            self.heard.extend(heard)
        if self.stream.unheard:
            self.pacer.cut_turn()

    def human_lost(self, gentle: bool = False) -> None:
        """The human's notes end now: synth, thru, the take, and the model hears the release."""
        now = _perf()
        for pitch in sorted(self.outlets.human_keys):  # the take shows them ending now, not after the outage
            self.takes.add(now, HUMAN, (NOTE_OFF, pitch, 0))
        if self.outlets.human_pedal_down:
            self.takes.add(now, HUMAN, (CONTROL_CHANGE, SUSTAIN_CC, 0))
        self.outlets.human_all_off(gentle)
        stream = self.stream
        if self.policy.hears_human and stream.encoder.folder.sounding:
            stream.rollback(self.clock.step_at(now), require_sent=True)
            stream.commit()
            heard = stream.release_human(now, self.steering.control)
            if self.cfg.keep_heard:
                self.heard.extend(heard)

    # --- AI output -----------------------------------------------------------------------------------
    def release_ai(self) -> None:
        """Note-offs now for every sounding AI note; the model hears them. The look-ahead must
        be empty (rolled back and committed: ``hear_humans``, ``stop_ai``)."""
        now = _perf()
        self._flush_humans(now, sliced=False)  # the human's finished steps first: the offs must not pass them
        step = max(self.clock.step_at(now), self.stream.step)
        for note in self.stream.release_ai(step, self.steering.control):
            self.sender.send_now(note)

    def stop_ai(self) -> None:
        """Discard the look-ahead, release the AI's notes, All Notes Off on its channels. The
        notes end even when the model fails (then the model does not hear their release)."""
        self.stream.discard_to_now(self.clock.step_at(_perf()))
        self.forced.clear()
        try:
            self.release_ai()
        except ModelError as exc:
            self.error(f"model: {exc}")
        for pitch in list(self.outlets.ai_open):
            self.sender.send_now(AiNote(_perf(), pitch, 0, False, -1, self.stream.step))
        self.outlets.ai_all_notes_off()
        self.policy.answer_done()

    def answer_now(self) -> None:
        """Call mode: the answer starts now (the human's held notes stay the human's)."""
        self.policy.answer_now(_perf())

    def report_status(self) -> None:
        self.reports.put(self.status())

    # --- generation ----------------------------------------------------------------------------------
    def _generate(self) -> None:
        policy = self.policy
        if not policy.active or self.stream.human_pending:
            return  # generation resumes once the model has heard the human's step (<= 10 ms)
        stream, clock, inbox_empty = self.stream, self.clock, self.inbox.empty
        pacer = self.pacer
        pending, lookahead, guard = stream.pending, pacer.lookahead_s, pacer.guard_s + pacer.spin_s
        steering = self.steering
        end_step, grace_steps = policy.end_step, policy.grace_steps
        pump = self.ports.pump
        slice_end_s = pacer.slice_end_s
        while True:
            now = _perf()
            if stream.horizon_s >= now + lookahead or not inbox_empty() or pump():
                return
            if pending and pending[0].time_s - now < guard:
                return  # send it first (a step could make it late); generation resumes after
            min_step = clock.step_at(now) + self.reaction_steps
            if self.forced and stream.step >= min_step:
                stream.push_forced((self.forced.popleft(),), steering.control)
                more = True
            else:
                more = stream.generate(steering.sampler, steering.temperature, steering.top_p,
                                       steering.control, min_step, end_step, grace_steps, steering.min_p,
                                       steering.note_min_p)
            done_s = _perf()
            self.step_time.add(done_s - now)
            if not more:  # the answer (or the duet's rounding off) is complete: every note released
                policy.answer_done()
                return
            if done_s > slice_end_s:  # at least one step per turn
                self.pacer.cut_turn()
                return

    def regenerate(self) -> None:
        """Settings changed: regenerate the look-ahead beyond the next ``reaction_ms``."""
        if self.policy.active:
            cut = self.clock.step_at(_perf()) + self.reaction_steps
            self.stream.rollback(cut, require_sent=False)

    # --- housekeeping --------------------------------------------------------------------------------
    def _housekeeping(self) -> None:
        now = _perf()
        stream = self.stream
        pending = stream.pending
        clearance = pending[0].time_s - now if pending else math.inf
        if clearance < SLOW_WORK_CLEARANCE_S:
            return
        active = self.policy.active
        if self.gc.due(now) and not (active and stream.horizon_s < now + self.pacer.lookahead_s / 2):
            self.gc.collect(now, clearance)  # (not while generation is catching up)
        if not active and not stream.spec and not pending and not stream.human_pending:
            stream.catch_up(self.clock.step_at(now), self.steering.control)
        if now >= self.next_check_s:
            self.next_check_s = now + self.ports.check(now, idle=not pending and not active)
        if now >= self.next_safety_s:
            self.next_safety_s = now + SAFETY_CHECK_S
            check_safety(self, now)
        if self.cfg.note_reports and now >= self.next_plan_s:
            self.next_plan_s = now + PLAN_INTERVAL_S
            velocity = self.steering.velocity.map
            plan = tuple((n.time_s, n.pitch, velocity(n.velocity)) for n in pending if n.is_on)
            if plan != self.plan:
                self.plan = plan
                self.reports.put(PlanReport(plan, now))
        if now >= self.next_status_s:
            self.next_status_s = now + self.cfg.status_interval_s
            self._status_turn(now)

    def _status_turn(self, now: float) -> None:
        measure(self, now)
        music_s = self.clock.music_s(now)
        self.steering.follow(music_s)
        if self.stream.shaper is not None:  # the duet's accompanist: the pianist's harmony and hands
            self.stream.shaper.follow(self.steering.playing.notes, music_s)
        self.pacer.measured_step(self.step_time.recent(99) / 1000.0)
        for message in self.takes.check():
            self.error(message)
        self.report_status()

    def status(self) -> StatusReport:
        return status_report(self)

    def stats(self) -> dict:
        return run_stats(self)

    # --- shutdown ------------------------------------------------------------------------------------
    def _shutdown(self) -> None:
        for step in (self.stop_ai, self._close_all, self.audio.join):
            try:
                step()
            except Exception as exc:
                self.error(f"engine stop: {type(exc).__name__}: {exc}")

    def _close_all(self) -> None:
        self.human_lost()
        self.outlets.panic()
        self.ports.close()
        for message in self.takes.close():
            self.error(message)
        self.report_status()
