"""The live piano roll: notes rise from the keyboard as time passes.

Columns line up with the on-screen keyboard below (``keyboard.key_span``); the "now" line is
the bottom edge, the time axis runs upwards in seconds. Human notes are teal, the model's amber,
brighter when louder. Notes live in a ring buffer; a ~60 fps timer repaints only while
something is visible or has changed, never once per MIDI event.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QRect, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFont, QPainter, QPaintEvent, QPen, QPixmap, QWheelEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

from perfjam.gui import theme
from perfjam.gui.keyboard import HIGHEST, LOWEST, is_black, key_span

FRAME_MS = 16  # ~60 fps
NOW_MARGIN = 3  # pixels between the now line and the bottom edge


@dataclass(slots=True)
class RollNote:
    source: str  # "human" | "ai"
    pitch: int
    velocity: int
    start_s: float
    end_s: float | None = None  # None while it sounds


class PianoRollWidget(QWidget):
    soundingChanged = Signal(object)  # {pitch: {source: velocity}} sounding now, at most once a frame

    def __init__(
        self,
        parent: QWidget | None = None,
        clock: Callable[[], float] = time.perf_counter,
        window_s: float = 8.0,
        capacity: int = 4096,
    ) -> None:
        super().__init__(parent)
        self.clock = clock
        self.window_s = window_s
        self._notes: deque[RollNote] = deque(maxlen=capacity)
        self._active: dict[tuple[str, int], RollNote] = {}
        self._last_end_s = -1e9
        self._dirty = True
        self._sounding: dict[int, dict[str, int]] = {}
        self._span_cache: tuple[int, dict[int, tuple[int, int]]] = (-1, {})
        self._colours: dict[tuple[str, int], tuple[QColor, QColor]] = {}
        self._bg: QPixmap | None = None
        self._bg_key: tuple | None = None
        self.paint_count = 0  # for tests: repaints are throttled
        self.caption = ""
        self.caption_colour = theme.MUTED
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumHeight(160)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setToolTip("Your notes in teal, PerfJam's in amber; brighter = louder. Scroll to zoom time.")
        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.timeout.connect(self._tick)
        self._timer.start(FRAME_MS)

    # ---- data ---------------------------------------------------------------------------------
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

    def release_all(self, time_s: float | None = None) -> None:
        for source, pitch in list(self._active):
            self.note_off(source, pitch, time_s)

    def notes(self) -> list[RollNote]:
        return list(self._notes)

    def active(self) -> dict[tuple[str, int], RollNote]:
        return dict(self._active)

    def clear(self) -> None:
        self._notes.clear()
        self._active.clear()
        self._last_end_s = -1e9
        self._dirty = True

    def set_caption(self, text: str, colour: QColor | None = None) -> None:
        colour = colour or theme.MUTED
        if text != self.caption or colour != self.caption_colour:
            self.caption, self.caption_colour = text, colour
            self._dirty = True

    # ---- frame timer --------------------------------------------------------------------------
    def needs_frame(self, now: float) -> bool:
        return self._dirty or bool(self._active) or self._last_end_s > now - self.window_s - 0.5

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
        horizon = now - self.window_s - 1.0
        while self._notes and self._notes[0].end_s is not None and self._notes[0].end_s < horizon:
            self._notes.popleft()
        if not self.needs_frame(now):
            return
        sounding = self.sounding(now)
        if sounding != self._sounding:
            self._sounding = sounding
            self.soundingChanged.emit(sounding)
        self._dirty = False
        if self.isVisible():
            self.update()

    def wheelEvent(self, event: QWheelEvent) -> None:
        factor = 0.85 if event.angleDelta().y() > 0 else 1 / 0.85
        self.window_s = max(2.0, min(30.0, self.window_s * factor))
        self._dirty = True

    # ---- painting -----------------------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent) -> None:
        self.paint_count += 1
        now = self.clock()
        w, h = self.width(), self.height()
        now_y = h - NOW_MARGIN
        px_per_s = now_y / self.window_s
        p = QPainter(self)
        p.drawPixmap(0, 0, self._background(w, h))
        spans = self._spans(w)
        oldest = now - self.window_s
        visible = [n for n in self._notes if (n.end_s is None or n.end_s >= oldest) and n.start_s <= now]
        caps = []
        # Plain pixel-aligned fills: a fraction of the cost of antialiased shapes at 60 fps.
        for black in (False, True):  # black-key columns overlap white ones: draw them on top
            for n in visible:
                span = spans.get(n.pitch)
                if span is None or is_black(n.pitch) != black:
                    continue
                end = now if n.end_s is None else min(n.end_s, now)
                bottom = int(min(now_y, now_y - (now - end) * px_per_s))
                top = min(bottom - 3, int(max(0.0, now_y - (now - n.start_s) * px_per_s)))
                rect = QRect(span[0], top, span[1], bottom - top)
                colour, edge = self._colour(n.source, n.velocity)
                if black:  # a dark rim keeps it apart from a white-key note it overlaps
                    p.fillRect(rect.adjusted(-1, -1, 1, 1), theme.BACKGROUND)
                p.fillRect(rect, colour)
                p.fillRect(QRect(rect.left(), top, rect.width(), 2), edge)  # the note's start
                if n.end_s is None:  # sounding: a bright cap where it meets the now line
                    caps.append((QRect(rect.left(), now_y - 3, rect.width(), 3), edge))
        for rect, colour in caps:
            p.fillRect(rect, colour)
        p.setPen(QPen(QColor(255, 255, 255, 150), 2))  # the now line
        p.drawLine(0, now_y, w, now_y)
        self._paint_legend(p, w)
        p.end()

    def _spans(self, w: int) -> dict[int, tuple[int, int]]:
        """pitch -> (left x, note width) in whole pixels for the current width (cached)."""
        if self._span_cache[0] != w:
            spans = {}
            for pitch in range(LOWEST, HIGHEST + 1):
                left, right = key_span(pitch, w)
                spans[pitch] = (round(left) + 1, max(2, round(right) - round(left) - 2))
            self._span_cache = (w, spans)
        return self._span_cache[1]

    def _colour(self, source: str, velocity: int) -> tuple[QColor, QColor]:
        """(body, edge) colours of a note, brighter when louder (cached)."""
        key = (source, velocity >> 2)
        colours = self._colours.get(key)
        if colours is None:
            body = theme.velocity_colour(source, velocity)
            colours = self._colours[key] = (body, body.lighter(135))
        return colours

    def _background(self, w: int, h: int) -> QPixmap:
        """Lanes, octave lines and the time axis: drawn once per size and zoom, not every frame."""
        key = (w, h, self.window_s)
        if self._bg_key != key:
            pixmap = QPixmap(max(1, w), max(1, h))
            pixmap.fill(theme.BACKGROUND)
            p = QPainter(pixmap)
            now_y = h - NOW_MARGIN
            self._paint_lanes(p, w, now_y)
            self._paint_time_axis(p, w, now_y, now_y / self.window_s)
            p.end()
            self._bg, self._bg_key = pixmap, key
        return self._bg

    def _paint_lanes(self, p: QPainter, w: float, now_y: float) -> None:
        lane = QColor(0, 0, 0, 70)
        for pitch in range(LOWEST, HIGHEST + 1):
            left, right = key_span(pitch, w)
            if is_black(pitch):
                p.fillRect(QRectF(left, 0, right - left, now_y), lane)
            elif pitch % 12 == 0:  # octave line at each C
                p.fillRect(QRectF(left, 0, 1, now_y), QColor(255, 255, 255, 22 if pitch != 60 else 50))

    def _paint_time_axis(self, p: QPainter, w: float, now_y: float, px_per_s: float) -> None:
        step = 1 if self.window_s <= 10 else 5
        font = QFont(self.font())
        font.setPointSizeF(8)
        p.setFont(font)
        second = step
        while second <= self.window_s:
            y = now_y - second * px_per_s
            p.setPen(QPen(QColor(255, 255, 255, 18), 1))
            p.drawLine(0, int(y), int(w), int(y))
            p.setPen(theme.MUTED)
            p.drawText(QRectF(6, y + 1, 60, 14), Qt.AlignmentFlag.AlignLeft, f"−{second} s")
            second += step
        p.setPen(QColor(255, 255, 255, 170))
        p.drawText(QRectF(6, now_y - 16, 60, 14), Qt.AlignmentFlag.AlignLeft, "now")

    def _paint_legend(self, p: QPainter, w: float) -> None:
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        font = QFont(self.font())
        font.setPointSizeF(10)
        font.setBold(True)
        p.setFont(font)
        x = w - 210
        sounding = {source for source, _ in self._active}
        for source, label in (("human", "You"), ("ai", "PerfJam")):
            colour = QColor(theme.source_colour(source))
            if source not in sounding:
                colour.setAlpha(150)
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(colour)
            p.drawRoundedRect(QRectF(x, 12, 14, 14), 3, 3)
            p.setPen(colour)
            p.drawText(QRectF(x + 20, 9, 90, 20), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                       label)
            x += 46 + 9 * len(label)
        if self.caption:
            p.setPen(self.caption_colour)
            p.drawText(QRectF(70, 9, w - 300, 20), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                       self.caption)
