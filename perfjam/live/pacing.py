"""When the engine thread wakes, and how long one of its turns may compute (``TurnPacer``).

Pure arithmetic on ``perf_counter`` times (no threads, no I/O): ``perfjam.live.loop`` asks it
how long to wait before each turn and whether a turn has used its work slice.

A turn is the engine thread's work between two waits. The thread runs at real-time priority, and
a JACK server without realtime scheduling waits behind it, so a turn that computes longer than
its work slice (``EngineConfig.work_slice_ms``) is cut: the next wait lasts at least
``pause_ms`` (however far behind generation is), but never into a due note's spin.
"""

from __future__ import annotations

DEFAULT_GUARD_S = 0.002  # until the model's step time is measured (see ``TurnPacer.guard_s``)
GUARD_MARGIN_S, MAX_GUARD_S = 0.0003, 0.005


class TurnPacer:
    def __init__(self, wait_cap_ms: float, spin_ms: float, lookahead_ms: float, work_slice_ms: float,
                 pause_ms: float) -> None:
        self.wait_cap_s, self.spin_s = wait_cap_ms / 1000.0, spin_ms / 1000.0
        self.lookahead_s = lookahead_ms / 1000.0
        self.work_slice_s, self.pause_s = work_slice_ms / 1000.0, pause_ms / 1000.0
        self.turn_s = 0.0  # when the current turn began
        self.pause_due = False  # the last turn used its work slice: the next wait is at least pause_s
        self.cut_turns = 0  # turns that ended for their work slice (a pause, then the rest)
        self.guard_s = DEFAULT_GUARD_S  # a note due sooner (+ spin_s) is sent before the next model step

    def measured_step(self, step_p99_s: float) -> None:
        """The model's recent step time (p99): the guard becomes that plus a margin."""
        self.guard_s = min(MAX_GUARD_S, step_p99_s + GUARD_MARGIN_S)

    def begin_turn(self, now_s: float) -> None:
        self.turn_s = now_s

    @property
    def slice_end_s(self) -> float:
        """When this turn's work slice ends."""
        return self.turn_s + self.work_slice_s

    def cut_turn(self) -> None:
        """The turn used its work slice: the rest after a pause."""
        if not self.pause_due:
            self.cut_turns += 1
        self.pause_due = True

    def wait_s(self, now_s: float, note_s: float | None, human_due_s: float | None, generating: bool,
               horizon_s: float, answer_s: float | None) -> float:
        """How long (>= 0 s) the thread may wait for input before its next turn. ``note_s``: the next AI
        note's due time (the sender then spins to it); ``human_due_s``: when the human's current
        10 ms step is over (the model hears it before anything is generated); ``generating``:
        the AI plays, its look-ahead reaching ``horizon_s``; ``answer_s``: when a call's answer
        may begin."""
        t = now_s + self.wait_cap_s
        if note_s is not None and note_s - self.spin_s < t:
            t = note_s - self.spin_s
        if human_due_s is not None:
            t = min(t, human_due_s)
        elif generating:
            generate_at = horizon_s - self.lookahead_s
            if note_s is not None and note_s - now_s < self.guard_s + self.spin_s:
                generate_at = note_s - self.spin_s  # that note first (it must not wait for a step)
            t = min(t, generate_at)
        elif answer_s is not None:
            t = min(t, answer_s)
        pause, self.pause_due = self.pause_due, False
        if pause and t - now_s < self.pause_s:  # however far behind generation is...
            wake_s = note_s - self.spin_s - now_s if note_s is not None else self.pause_s
            return max(0.0, min(self.pause_s, wake_s))  # ...but not into a due note's spin
        return max(0.0, t - now_s)
