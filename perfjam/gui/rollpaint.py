"""Painting the piano roll (``pianoroll.PianoRollWidget``): the background (key lanes, octave
lines, the C labels in the strip ahead), the pedal lane, the notes, the time axis and the legend.

Plain pixel-aligned fills for the notes: a fraction of the cost of antialiased shapes at 60 fps.
Everything that does not move is drawn once per size into a pixmap.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QRect, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPen, QPixmap

from perfjam.controls import pitch_name
from perfjam.gui import theme
from perfjam.gui.keyboard import HIGHEST, LOWEST, is_black, key_span

AHEAD_PX = 22  # the strip under the now line: what is ahead of now, and the C labels
PEDAL_PX = 6  # the pedal lane on the left edge
AHEAD_OPACITY = 0.3  # of a note not sounding yet (the AI's look-ahead)
LABEL_PT = 9.0  # the C labels: readable with a 1024 px wide window
AXIS_X = PEDAL_PX + 6  # where the time labels start
LEFT_MIDDLE = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter


@dataclass(frozen=True)
class RollView:
    """What one frame shows: ``end`` is the time at the now line (now itself when live)."""

    width: int
    height: int
    now: float
    end: float
    window_s: float

    @property
    def now_y(self) -> int:
        return self.height - AHEAD_PX

    @property
    def px_per_s(self) -> float:
        return max(1, self.now_y) / self.window_s

    @property
    def live(self) -> bool:
        return self.end >= self.now

    def y(self, time_s: float) -> float:
        return self.now_y + (time_s - self.end) * self.px_per_s  # older: higher up

    def newest(self) -> float:
        """The time at the bottom edge."""
        return self.end + AHEAD_PX / self.px_per_s


def _font(base: QFont, point_size: float, bold: bool = False) -> QFont:
    font = QFont(base)
    font.setPointSizeF(point_size)
    font.setBold(bold)
    return font


def background(w: int, h: int, font: QFont) -> QPixmap:
    """Lanes of the black keys, a line at each C, the strip ahead with the Cs named."""
    pixmap = QPixmap(max(1, w), max(1, h))
    pixmap.fill(theme.BACKGROUND)
    p = QPainter(pixmap)
    now_y = h - AHEAD_PX
    p.fillRect(QRectF(0, now_y, w, AHEAD_PX), QColor(255, 255, 255, 10))
    lane = QColor(0, 0, 0, 70)
    for pitch in range(LOWEST, HIGHEST + 1):
        left, right = key_span(pitch, w)
        if is_black(pitch):
            p.fillRect(QRectF(left, 0, right - left, now_y), lane)
        elif pitch % 12 == 0:  # octave line at each C
            p.fillRect(QRectF(left, 0, 1, h), QColor(255, 255, 255, 22 if pitch != 60 else 50))
    p.fillRect(QRectF(0, 0, PEDAL_PX, now_y), QColor(0, 0, 0, 90))  # the pedal lane
    p.setFont(label_font(font))
    for pitch, rect in c_labels(w, h, font):
        p.setPen(theme.TEXT if pitch == 60 else theme.MUTED)
        p.drawText(rect, LEFT_MIDDLE, pitch_name(pitch))
    p.end()
    return pixmap


def label_font(font: QFont) -> QFont:
    return _font(font, LABEL_PT, bold=True)


def c_labels(w: int, h: int, font: QFont) -> list[tuple[int, QRectF]]:
    """(pitch, where its name goes) for each C, in the strip under the now line, right of its octave
    line (the last one, C8, kept inside the roll)."""
    metrics = QFontMetrics(label_font(font))
    out = []
    for pitch in range(LOWEST, HIGHEST + 1):
        if pitch % 12 == 0:
            left, _right = key_span(pitch, w)
            width = metrics.horizontalAdvance(pitch_name(pitch)) + 2
            x = min(left + 3, w - width - 2)
            out.append((pitch, QRectF(x, h - AHEAD_PX + 1, width, AHEAD_PX - 2)))
    return out


def paint_pedal(p: QPainter, view: RollView, spans: Iterable[Any]) -> None:
    """Each pedal-down span: a bar in the lane and a faint wash across the roll behind the notes."""
    colour = QColor(theme.HUMAN)
    colour.setAlpha(200)
    wash = QColor(theme.HUMAN)
    wash.setAlpha(14)
    oldest = view.end - view.window_s
    for span in spans:
        end = min(view.now, view.newest()) if span.end_s is None else span.end_s
        if end < oldest or span.start_s > view.newest():
            continue
        top = int(max(0.0, view.y(span.start_s)))
        bottom = int(min(float(view.height), view.y(end)))
        if bottom - top < 2:
            bottom = top + 2
        p.fillRect(QRect(PEDAL_PX, top, view.width - PEDAL_PX, bottom - top), wash)
        p.fillRect(QRect(0, top, PEDAL_PX, bottom - top), colour)
        p.fillRect(QRect(0, top, PEDAL_PX + 8, 2), colour)  # where it went down


class NotePainter:
    """Notes as fills, with the colours and key columns of the current width cached."""

    def __init__(self) -> None:
        self._spans: tuple[int, dict[int, tuple[int, int]]] = (-1, {})
        self._colours: dict[tuple[str, int, bool], tuple[QColor, QColor]] = {}

    def spans(self, w: int) -> dict[int, tuple[int, int]]:
        """pitch -> (left x, note width) in whole pixels for the width ``w``."""
        if self._spans[0] != w:
            spans = {}
            for pitch in range(LOWEST, HIGHEST + 1):
                left, right = key_span(pitch, w)
                spans[pitch] = (round(left) + 1, max(2, round(right) - round(left) - 2))
            self._spans = (w, spans)
        return self._spans[1]

    def colour(self, source: str, velocity: int, ahead: bool = False) -> tuple[QColor, QColor]:
        """(body, edge) of a note, brighter when louder; faint for a note not sounding yet."""
        key = (source, velocity >> 2, ahead)
        colours = self._colours.get(key)
        if colours is None:
            body = theme.velocity_colour(source, velocity)
            edge = body.lighter(135)
            if ahead:
                body, edge = QColor(body), QColor(edge)
                body.setAlphaF(AHEAD_OPACITY)
                edge.setAlphaF(min(1.0, AHEAD_OPACITY * 1.6))
            colours = self._colours[key] = (body, edge)
        return colours

    def paint_notes(self, p: QPainter, view: RollView, notes: list[Any]) -> None:
        spans = self.spans(view.width)
        now, newest = view.now, view.newest()
        caps = []
        for black in (False, True):  # black-key columns overlap white ones: draw them on top
            for n in notes:
                span = spans.get(n.pitch)
                if span is None or is_black(n.pitch) != black:
                    continue
                stop = n.end_s if n.end_s is not None else (now if n.start_s <= now else newest)
                if n.start_s < now:  # what has sounded
                    self._fill(p, view, span, n, n.start_s, min(stop, now), black, ahead=False)
                    if n.end_s is None and view.live:  # sounding: a bright cap on the now line
                        caps.append((QRect(span[0], view.now_y - 3, span[1], 3), self.colour(n.source,
                                                                                            n.velocity)[1]))
                if stop > now:  # what is still ahead: faint until it sounds
                    self._fill(p, view, span, n, max(n.start_s, now), stop, black, ahead=True,
                               edge=n.start_s >= now)
        for rect, colour in caps:
            p.fillRect(rect, colour)

    def _fill(self, p: QPainter, view: RollView, span: tuple[int, int], n: Any, start: float, end: float,
              black: bool, ahead: bool, edge: bool = True) -> None:
        bottom = int(min(float(view.height), view.y(end)))
        top = int(max(0.0, view.y(start)))
        if bottom <= 0 or top >= view.height:
            return
        top = min(top, bottom - 3)
        rect = QRect(span[0], top, span[1], bottom - top)
        body, edge_colour = self.colour(n.source, n.velocity, ahead)
        if black and not ahead:  # a dark rim keeps it apart from a white-key note it overlaps
            p.fillRect(rect.adjusted(-1, -1, 1, 1), theme.BACKGROUND)
        p.fillRect(rect, body)
        if edge:
            p.fillRect(QRect(rect.left(), rect.top(), rect.width(), 2), edge_colour)  # the note's start


def paint_time_axis(p: QPainter, view: RollView, font: QFont) -> None:
    """Seconds ago (from now, also when looking back), and the now line (or the moment shown)."""
    step = 1 if view.window_s <= 10 else 5
    p.setFont(_font(font, 8))
    now_y = view.now_y
    first = max(step, int((view.now - view.end) // step) * step)
    for age in range(first, first + int(view.window_s) + 2 * step, step):
        y = view.y(view.now - age)
        if y < 12:
            break
        if y < now_y - 16:
            p.setPen(QPen(QColor(255, 255, 255, 18), 1))
            p.drawLine(AXIS_X - 4, int(y), view.width, int(y))
            p.setPen(theme.MUTED)
            p.drawText(QRectF(AXIS_X, y + 1, 60, 14), Qt.AlignmentFlag.AlignLeft, f"−{age} s")
    if view.live:
        p.setPen(QPen(QColor(255, 255, 255, 150), 2))
        p.drawLine(0, now_y, view.width, now_y)
        p.setPen(QColor(255, 255, 255, 170))
        p.drawText(QRectF(AXIS_X, now_y - 16, 60, 14), Qt.AlignmentFlag.AlignLeft, "now")
        return
    p.setPen(QPen(theme.WARN, 2, Qt.PenStyle.DashLine))
    p.drawLine(0, now_y, view.width, now_y)
    p.setPen(theme.WARN)
    p.drawText(QRectF(AXIS_X, now_y - 16, 160, 14), Qt.AlignmentFlag.AlignLeft,
               f"{view.now - view.end:.1f} s ago")


def paint_legend(p: QPainter, w: float, sounding: set[str], caption: str, caption_colour: QColor,
                 font: QFont) -> None:
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.setFont(_font(font, 10, bold=True))
    x = w - 210
    for source, label in (("human", "You"), ("ai", "PerfJam")):
        colour = QColor(theme.source_colour(source))
        if source not in sounding:
            colour.setAlpha(150)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(colour)
        p.drawRoundedRect(QRectF(x, 12, 14, 14), 3, 3)
        p.setPen(colour)
        p.drawText(QRectF(x + 20, 9, 90, 20), LEFT_MIDDLE, label)
        x += 46 + 9 * len(label)
    if caption:
        p.setPen(caption_colour)
        p.drawText(QRectF(70, 9, w - 300, 20), LEFT_MIDDLE, caption)
