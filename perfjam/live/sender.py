"""Sending the AI's notes on time (``AiSender``): the stream's due notes go out when due, a
chord together, the last stretch to a due note spun; each sent note is then accounted for:
timing error and lateness, the take, a ``NoteReport``, the heard log. Engine thread only."""

from __future__ import annotations

import time
from collections import deque

from perfjam.codec.events import STEPS_PER_SECOND
from perfjam.live.clock import AiNote, HeardNote
from perfjam.live.outlets import NOTE_OFF, NOTE_ON, Outlets
from perfjam.live.pacing import TurnPacer
from perfjam.live.realtime import TimingStat
from perfjam.live.reports import NoteReport
from perfjam.live.steering import Steering
from perfjam.live.takes import AI, Takes

_perf = time.perf_counter


class AiSender:
    def __init__(self, outlets: Outlets, takes: Takes, reports, heard: deque, pacer: TurnPacer,
                 late_ms: float, note_reports: bool, keep_heard: bool, steering: Steering) -> None:
        self.outlets = outlets
        self.steering = steering  # the AI's velocities at the pianist's level; told what it played
        self.reports = reports
        self.heard = heard
        self.pacer = pacer  # its spin_s, and when the engine's current turn began (for the late log)
        self.late_s = late_ms / 1000.0
        self.note_reports, self.keep_heard = note_reports, keep_heard
        self.takes = takes
        self.timing_error = TimingStat()
        self.late = 0
        self.late_log: deque = deque(maxlen=32)  # (error_ms, ms since the turn began, pitch, t)
        self.events_out = 0

    def send_now(self, note: AiNote) -> None:
        """An unscheduled AI note action (a release): sent, then its bookkeeping."""
        self._sent(note, self.outlets.ai_note(note.pitch, note.velocity, note.is_on), False, note.velocity)

    def send_due(self, stream) -> None:
        """Every due note of ``stream``, sent first, bookkeeping after. A note due within
        ``spin_ms`` is waited for by spinning: the engine's timed wait ends that early."""
        pending = stream.pending
        if not pending:
            return
        now = _perf()
        due = pending[0].time_s
        if now < due:
            if due - now > self.pacer.spin_s:
                return
            while _perf() < due:
                pass
        sent, send, velocity = [], self.outlets.ai_note, self.steering.velocity
        while pending and pending[0].time_s <= _perf():
            note = pending.popleft()
            if note.is_on:
                played = velocity.map(note.velocity)
                sent.append((note, played, send(note.pitch, played, True)))
            else:
                sent.append((note, 0, send(note.pitch, 0, False)))
        for note, played, t in sent:
            if note.is_on:
                self.steering.ai_played(note.step / STEPS_PER_SECOND, note.velocity)
            self._sent(note, t, True, played)
            stream.mark_sent(note.seq)

    def _sent(self, note: AiNote, t: float, scheduled: bool, velocity: int = 0) -> None:
        pitch = note.pitch
        if scheduled and not note.by_human:  # (that one has no due time: its step is over when heard)
            error = t - note.time_s
            self.timing_error.add(error)
            if error > self.late_s:
                self.late += 1
                into_turn_ms = round((t - self.pacer.turn_s) * 1000, 3)
                self.late_log.append((round(error * 1000, 3), into_turn_ms, pitch, t))
        self.events_out += 1
        at = note.time_s if scheduled else t
        self.takes.add(at, AI, (NOTE_ON if note.is_on else NOTE_OFF, pitch, velocity))
        if self.note_reports:
            self.reports.put(NoteReport("ai", pitch, velocity, note.is_on, at))
        if self.keep_heard and not note.restrike:
            self.heard.append(HeardNote(note.step, "ai", pitch, note.velocity, note.is_on))
