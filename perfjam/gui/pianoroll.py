"""The live piano roll: notes rise from the keyboard as time passes.

Columns line up with the on-screen keyboard below (``keyboard.key_span``); the "now" line sits a
strip above the bottom edge, the time axis runs upwards in seconds. Human notes are teal, the
model's amber, brighter when louder. The strip under the now line holds what is ahead: AI notes
reported before their time are drawn there, faint, until they sound (``ahead``); it also names
the Cs (C1 … C8). The human's sustain pedal has a lane on the left edge (``pedal``).

The last ``HISTORY_S`` (30 s) are kept: the mouse wheel or a drag looks back in time (the view
then holds still on the phrase while the music goes on), Ctrl+wheel zooms, the "Back to now"
button or End returns to the live view (``go_live``). Notes live in a ring buffer; a ~60 fps timer
repaints only while something is visible or has changed, never once per MIDI event.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QPaintEvent, QPixmap, QResizeEvent, QWheelEvent
from PySide6.QtWidgets import QSizePolicy, QToolButton, QWidget

from perfjam.gui import rollpaint, theme
from perfjam.gui.rollpaint import AHEAD_PX, RollView

FRAME_MS = 16  # ~60 fps
HISTORY_S = 30.0  # how far back the roll keeps notes (and can be scrolled)
DEFAULT_WINDOW_S = 8.0  # seconds shown above the now line
MIN_WINDOW_S = 2.0
WHEEL_STEP = 120  # one notch of a mouse wheel (Qt's angle delta)
SCROLL_PER_NOTCH = 0.15  # of the seconds shown
ZOOM_PER_NOTCH = 0.85
SCROLLED_FRAME_S = 0.25  # looking back, the view holds still: only its "… s ago" labels move
PLAN_NOTE_S = 0.1  # a planned AI note is drawn this long until it sounds (its length is not known yet)
LIVE_TEXT = "Back to now  ▼  (End)"
TOOLTIP = ("Your notes in teal, PerfJam's in amber (faint until they sound); brighter = louder. The "
           "left edge shows your sustain pedal.\nScroll or drag to look back 30 s, Ctrl+scroll to zoom, "
           "End to come back to now.")


@dataclass(slots=True)
class RollNote:
    source: str  # "human" | "ai"
    pitch: int
    velocity: int
    start_s: float
    end_s: float | None = None  # None while it sounds


@dataclass(slots=True)
class PedalSpan:
    source: str  # "human"
    start_s: float
    end_s: float | None = None  # None while the pedal is down


class PianoRollWidget(QWidget):
    soundingChanged = Signal(object)  # {pitch: {source: velocity}} sounding now, at most once a frame
    viewChanged = Signal(bool)  # live (True) or looking back (False)

    def __init__(
        self,
        parent: QWidget | None = None,
        clock: Callable[[], float] = time.perf_counter,
        window_s: float = DEFAULT_WINDOW_S,
        capacity: int = 8192,
        history_s: float = HISTORY_S,
    ) -> None:
        super().__init__(parent)
        self.clock = clock
        self.window_s = window_s
        self.history_s = history_s
        self._notes: deque[RollNote] = deque(maxlen=capacity)
        self._plan: list[RollNote] = []  # the AI's look-ahead as last reported (engine PlanReport)
        self._active: dict[tuple[str, int], RollNote] = {}
        self._pedals: deque[PedalSpan] = deque(maxlen=capacity)
        self._pedal_open: dict[str, PedalSpan] = {}
        self._last_end_s = -1e9
        self._view_end_s: float | None = None  # None: live; else the time at the now line
        self._drag: tuple[float, float] | None = None  # (y, view end) where a drag began
        self._last_frame_s = -1e9
        self._dirty = True
        self._sounding: dict[int, dict[str, int]] = {}
        self._bg: QPixmap | None = None
        self._bg_key: tuple | None = None
        self.painter = rollpaint.NotePainter()
        self.paint_count = 0  # for tests: repaints are throttled
        self.caption = ""
        self.caption_colour = theme.MUTED
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumHeight(160)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setToolTip(TOOLTIP)
        self.live_button = QToolButton(self)
        self.live_button.setObjectName("live")
        self.live_button.setText(LIVE_TEXT)
        self.live_button.setToolTip("Back to the live roll (End)")
        self.live_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.live_button.setCursor(Qt.CursorShape.PointingHandCursor)
        self.live_button.clicked.connect(self.go_live)
        self.live_button.hide()
        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.timeout.connect(self._tick)
        self._timer.start(FRAME_MS)

    # ---- notes and pedal ----------------------------------------------------------------------
    def note_on(self, source: str, pitch: int, velocity: int, time_s: float | None = None) -> None:
        time_s = self.clock() if time_s is None else time_s
        self.note_off(source, pitch, time_s)
        note = RollNote(source, pitch, velocity, time_s)
        self._notes.append(note)
        self._active[(source, pitch)] = note
        self._dirty = True

    def note_off(self, source: str, pitch: int, time_s: float | None = None) -> None:
        note = self._active.pop((source, pitch), None)
        if note is not None:
            note.end_s = max(note.start_s, self.clock() if time_s is None else time_s)
            self._last_end_s = max(self._last_end_s, note.end_s)
            self._dirty = True

    def pedal(self, source: str, down: bool, time_s: float | None = None) -> None:
        """The sustain pedal went down or up (a repeat of its state changes nothing)."""
        time_s = self.clock() if time_s is None else time_s
        span = self._pedal_open.get(source)
        if down and span is None:
            span = PedalSpan(source, time_s)
            self._pedals.append(span)
            self._pedal_open[source] = span
        elif not down and span is not None:
            span.end_s = max(span.start_s, time_s)
            self._last_end_s = max(self._last_end_s, span.end_s)
            del self._pedal_open[source]
        self._dirty = True

    def release_all(self, time_s: float | None = None) -> None:
        """Every note ends and the pedal lifts (panic)."""
        for source, pitch in list(self._active):
            self.note_off(source, pitch, time_s)
        for source in list(self._pedal_open):
            self.pedal(source, False, time_s)

    def notes(self) -> list[RollNote]:
        return list(self._notes)

    def active(self) -> dict[tuple[str, int], RollNote]:
        return dict(self._active)

    def pedal_spans(self) -> list[PedalSpan]:
        return list(self._pedals)

    def pedal_down(self, source: str = "human") -> bool:
        return source in self._pedal_open

    def set_plan(self, notes) -> None:
        """The AI's look-ahead, (time_s, pitch, velocity) note-ons not sounding yet; replaces the
        last plan (what a rollback dropped disappears). Drawn faint, a short stub each, until the
        note itself is reported."""
        self._plan = [RollNote("ai", pitch, velocity, time_s, time_s + PLAN_NOTE_S)
                      for time_s, pitch, velocity in notes]
        self._dirty = True

    def ahead(self, now: float | None = None) -> list[RollNote]:
        """Notes reported before their time (the AI's look-ahead): drawn faint until they sound."""
        now = self.clock() if now is None else now
        return [n for n in (*self._notes, *self._planned(now)) if n.start_s > now]

    def _planned(self, now: float) -> list[RollNote]:
        """Plan notes still ahead and not reported as notes yet."""
        if not self._plan:
            return []
        reported = {(n.pitch, round(n.start_s, 4)) for n in self._notes
                    if n.source == "ai" and n.start_s > now}
        return [n for n in self._plan if n.start_s > now and (n.pitch, round(n.start_s, 4)) not in reported]

    def clear(self) -> None:
        self._notes.clear()
        self._plan.clear()
        self._active.clear()
        self._pedals.clear()
        self._pedal_open.clear()
        self._last_end_s = -1e9
        self._dirty = True

    def set_caption(self, text: str, colour: QColor | None = None) -> None:
        colour = colour or theme.MUTED
        if text != self.caption or colour != self.caption_colour:
            self.caption, self.caption_colour = text, colour
            self._dirty = True

    # ---- the view: live, or looking back --------------------------------------------------------
    @property
    def live(self) -> bool:
        return self._view_end_s is None

    def view_end(self, now: float | None = None) -> float:
        """The time at the now line: now when live, else the moment looked back at."""
        now = self.clock() if now is None else now
        return now if self._view_end_s is None else self._view_end_s

    def view_range(self, now: float | None = None) -> tuple[float, float]:
        """(oldest, newest) time shown: from the top edge to the bottom of the strip ahead."""
        now = self.clock() if now is None else now
        end = self.view_end(now)
        return end - self.window_s, end + AHEAD_PX * self.window_s / max(1, self._now_y())

    def visible_notes(self, now: float | None = None) -> list[RollNote]:
        oldest, newest = self.view_range(now)
        notes = [n for n in self._notes if (n.end_s is None or n.end_s >= oldest) and n.start_s <= newest]
        planned = self._planned(self.clock() if now is None else now)
        return notes + [n for n in planned if n.start_s <= newest]

    def scroll_back(self, seconds: float, now: float | None = None) -> None:
        """Look ``seconds`` further back (negative: forward); at now the roll is live again."""
        now = self.clock() if now is None else now
        self._set_view_end(self.view_end(now) - seconds, now)

    def go_live(self) -> None:
        self._set_view_end(None, self.clock())

    def _set_view_end(self, end: float | None, now: float) -> None:
        if end is not None:
            end = max(end, now - self.history_s + self.window_s)  # never past what is kept
            if end >= now:
                end = None
        was_live = self.live
        self._view_end_s = end
        self._dirty = True
        self.live_button.setVisible(end is not None)
        self._place_live_button()
        if was_live != self.live:
            self.viewChanged.emit(self.live)

    def zoom(self, factor: float) -> None:
        self.window_s = max(MIN_WINDOW_S, min(self.history_s, self.window_s * factor))
        if not self.live:
            self._set_view_end(self._view_end_s, self.clock())
        self._dirty = True

    def wheelEvent(self, event: QWheelEvent) -> None:
        notches = event.angleDelta().y() / WHEEL_STEP
        if not notches:
            return
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self.zoom(ZOOM_PER_NOTCH ** notches)
        else:  # away from you: further back in time (up the roll)
            self.scroll_back(notches * SCROLL_PER_NOTCH * self.window_s)
        event.accept()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self._drag = (event.position().y(), self.view_end())
            self.setCursor(Qt.CursorShape.ClosedHandCursor)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._drag is not None and event.buttons() & Qt.MouseButton.LeftButton:
            y0, end0 = self._drag
            seconds = (event.position().y() - y0) * self.window_s / max(1, self._now_y())
            self._set_view_end(end0 - seconds, self.clock())  # pulled down: the past comes into view

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        self._drag = None
        self.unsetCursor()

    def resizeEvent(self, event: QResizeEvent) -> None:
        self._place_live_button()
        super().resizeEvent(event)

    def _place_live_button(self) -> None:
        hint = self.live_button.sizeHint()
        self.live_button.setGeometry(self.width() - hint.width() - 10, self._now_y() - hint.height() - 8,
                                     hint.width(), hint.height())

    def _now_y(self) -> int:
        return self.height() - AHEAD_PX

    # ---- frame timer --------------------------------------------------------------------------
    def needs_frame(self, now: float) -> bool:
        if self._dirty or self._active or self._pedal_open:
            return True
        if not self.live:
            return now - self._last_frame_s >= SCROLLED_FRAME_S
        return self._last_end_s > now - self.window_s - 0.5

    def sounding(self, now: float | None = None) -> dict[int, dict[str, int]]:
        """What sounds at ``now``: notes that started (AI notes may be scheduled ahead) and go on."""
        now = self.clock() if now is None else now
        out: dict[int, dict[str, int]] = {}
        for (source, pitch), note in self._active.items():
            if note.start_s <= now:
                out.setdefault(pitch, {})[source] = note.velocity
        return out

    def _tick(self) -> None:
        now = self.clock()
        horizon = now - self.history_s - 1.0
        for kept in (self._notes, self._pedals):
            while kept and kept[0].end_s is not None and kept[0].end_s < horizon:
                kept.popleft()
        if not self.live and self._view_end_s < now - self.history_s + self.window_s:
            self._set_view_end(self._view_end_s, now)  # what it shows is being forgotten: follow
        if not self.needs_frame(now):
            return
        sounding = self.sounding(now)
        if sounding != self._sounding:
            self._sounding = sounding
            self.soundingChanged.emit(sounding)
        self._dirty = False
        self._last_frame_s = now
        if self.isVisible():
            self.update()

    # ---- painting -----------------------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent) -> None:
        self.paint_count += 1
        now = self.clock()
        w, h = self.width(), self.height()
        view = RollView(w, h, now, self.view_end(now), self.window_s)
        p = QPainter(self)
        key = (w, h)
        if self._bg_key != key:
            self._bg, self._bg_key = rollpaint.background(w, h, self.font()), key
        p.drawPixmap(0, 0, self._bg)
        rollpaint.paint_pedal(p, view, self._pedals)
        self.painter.paint_notes(p, view, self.visible_notes(now))
        rollpaint.paint_time_axis(p, view, self.font())
        sounding = {source for source, _ in self._active}
        rollpaint.paint_legend(p, w, sounding, self.caption, self.caption_colour, self.font())
        p.end()
