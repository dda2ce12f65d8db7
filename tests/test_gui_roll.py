"""A roll a pianist reads (issue 11, §6), on the widget alone with a clock the test moves: 30 s of
history and looking back (wheel, drag, "Back to now"), the AI's look-ahead drawn faint until it
sounds, the sustain-pedal lane, and C labels that fit at the width a 1024 px window gives it."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402

pytest.importorskip("pytestqt")

from PySide6.QtCore import QPoint, QPointF, Qt  # noqa: E402
from PySide6.QtGui import QColor, QMouseEvent, QWheelEvent  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from perfjam.gui import rollpaint, theme  # noqa: E402
from perfjam.gui.keyboard import key_span  # noqa: E402
from perfjam.gui.pianoroll import HISTORY_S, PianoRollWidget  # noqa: E402
from perfjam.gui.rollpaint import RollView  # noqa: E402


class FakeClock:
    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def roll(qtbot):
    clock = FakeClock()
    widget = PianoRollWidget(clock=clock)
    widget.resize(700, 420)
    qtbot.addWidget(widget)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def _wheel(widget, notches: float, ctrl: bool = False) -> None:
    centre = QPointF(widget.width() / 2, widget.height() / 2)
    mods = Qt.KeyboardModifier.ControlModifier if ctrl else Qt.KeyboardModifier.NoModifier
    event = QWheelEvent(centre, widget.mapToGlobal(centre), QPoint(), QPoint(0, int(notches * 120)),
                        Qt.MouseButton.NoButton, mods, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(widget, event)


def _mouse(widget, kind, y: float, buttons) -> None:
    pos = QPointF(widget.width() / 2, y)
    button = Qt.MouseButton.LeftButton if kind != QMouseEvent.Type.MouseMove else Qt.MouseButton.NoButton
    QApplication.sendEvent(widget, QMouseEvent(kind, pos, widget.mapToGlobal(pos), button, buttons,
                                               Qt.KeyboardModifier.NoModifier))


def _pixel(widget, x: float, y: float) -> QColor:
    image = widget.grab().toImage()
    ratio = image.devicePixelRatio()
    return QColor(image.pixel(int(x * ratio), int(y * ratio)))


def _distance(a: QColor, b: QColor) -> int:
    return abs(a.red() - b.red()) + abs(a.green() - b.green()) + abs(a.blue() - b.blue())


def _phrase(roll, ages_s) -> None:
    now = roll.clock()
    for i, age in enumerate(ages_s):
        pitch = 40 + i % 40
        roll.note_on("human", pitch, 90, now - age)
        roll.note_off("human", pitch, now - age + 0.3)


def test_the_roll_keeps_30_seconds_and_forgets_what_is_older(roll, qtbot):
    _phrase(roll, [45, 40, 33, 29, 20, 5, 1])
    qtbot.waitUntil(lambda: len(roll.notes()) == 4, timeout=2000)  # one frame prunes
    ages = sorted(round(roll.clock() - n.start_s) for n in roll.notes())
    assert ages == [1, 5, 20, 29]
    assert HISTORY_S == 30.0
    assert roll.window_s == 8.0  # 8 s shown at once; the rest is there to look back at
    assert [round(roll.clock() - n.start_s) for n in roll.visible_notes()] == [5, 1]


def test_the_wheel_and_a_drag_look_back_and_the_view_holds_still_until_back_to_now(roll, qtbot):
    _phrase(roll, [20, 1])  # the phrase played 20 s ago, and a note just now
    assert roll.live and not roll.live_button.isVisible()
    _wheel(roll, 4)  # away from you: back in time
    assert not roll.live and roll.live_button.isVisible()
    assert roll.view_end() == pytest.approx(roll.clock() - 4 * 0.15 * 8.0)
    # a drag pulls the past down into view: the height of the roll is the 8 s shown
    end = roll.view_end()
    now_y = roll.height() - rollpaint.AHEAD_PX
    _mouse(roll, QMouseEvent.Type.MouseButtonPress, 50, Qt.MouseButton.LeftButton)
    _mouse(roll, QMouseEvent.Type.MouseMove, 50 + now_y, Qt.MouseButton.LeftButton)
    _mouse(roll, QMouseEvent.Type.MouseButtonRelease, 50 + now_y, Qt.MouseButton.NoButton)
    assert roll.view_end() == pytest.approx(end - 8.0, abs=0.05)
    _wheel(roll, 3.5)
    shown = [round(roll.clock() - n.start_s) for n in roll.visible_notes()]
    assert shown == [20]  # the phrase, and not what was played just now
    held = roll.view_end()
    roll.clock.t += 3.0  # the music goes on: the phrase stays where it is
    qtbot.wait(40)
    assert roll.view_end() == held
    _wheel(roll, 100)  # never further back than what is kept
    assert roll.view_end() == pytest.approx(roll.clock() - HISTORY_S + roll.window_s)
    _wheel(roll, -1, ctrl=True)  # Ctrl+wheel zooms out
    assert roll.window_s > 8.0
    qtbot.mouseClick(roll.live_button, Qt.MouseButton.LeftButton)
    assert roll.live and not roll.live_button.isVisible()
    assert roll.view_end() == roll.clock()


def test_a_view_looking_back_follows_when_what_it_shows_is_forgotten(roll, qtbot):
    _phrase(roll, [25])
    roll.scroll_back(HISTORY_S)
    oldest = roll.view_end()
    roll.clock.t += 10.0
    qtbot.waitUntil(lambda: roll.view_end() > oldest + 9.0, timeout=2000)
    assert roll.view_end() >= roll.clock() - HISTORY_S + roll.window_s
    roll.scroll_back(-100.0)  # forward past now: live again
    assert roll.live


def test_the_ai_look_ahead_is_drawn_faint_until_it_sounds(roll, qtbot):
    now = roll.clock()
    roll.note_on("ai", 67, 110, now + 0.3)  # reported before its time
    roll.note_on("ai", 72, 110, now - 1.0)  # sounding
    assert [n.pitch for n in roll.ahead()] == [67]
    qtbot.wait(40)
    view = RollView(roll.width(), roll.height(), now, now, roll.window_s)
    x67, x72 = (sum(key_span(p, roll.width())) / 2 for p in (67, 72))
    body = theme.velocity_colour("ai", 110)
    ahead_y = min(roll.height() - 1, view.y(now + 0.3) + 4)  # below the now line: still ahead
    faint = _pixel(roll, x67, ahead_y)
    full = _pixel(roll, x72, view.y(now - 0.5))
    assert _distance(full, body) < 40  # a sounding note in its colour
    assert _distance(faint, theme.BACKGROUND) < _distance(body, theme.BACKGROUND) * 0.5  # faint
    assert _distance(faint, theme.BACKGROUND) > 20  # but there
    roll.clock.t += 0.5
    assert roll.ahead() == []
    qtbot.wait(40)
    view = RollView(roll.width(), roll.height(), roll.clock(), roll.clock(), roll.window_s)
    assert _distance(_pixel(roll, x67, view.y(roll.clock() - 0.1)), body) < 40  # sounding: full colour


def test_the_engine_plan_is_drawn_ahead_and_withdrawn_by_the_next_plan(roll, qtbot):
    now = roll.clock()
    roll.set_plan(((now + 0.1, 60, 90), (now + 0.12, 64, 90)))
    assert sorted(n.pitch for n in roll.ahead()) == [60, 64]
    roll.note_on("ai", 60, 90, now + 0.1)  # the note itself is reported: drawn once
    assert sorted(n.pitch for n in roll.ahead()) == [60, 64]
    roll.set_plan(((now + 0.1, 60, 90),))  # a rollback dropped the E
    assert [n.pitch for n in roll.ahead()] == [60]
    roll.clock.t += 0.2
    assert roll.ahead() == [] and all(n.source == "ai" for n in roll.visible_notes())
    assert [n.pitch for n in roll.visible_notes()] == [60], "the planned stub is gone once its time passed"


def test_the_pedal_lane_shows_each_time_the_pedal_was_down(roll, qtbot):
    now = roll.clock()
    roll.pedal("human", True, now - 3.0)
    roll.pedal("human", True, now - 2.5)  # a repeat changes nothing
    roll.pedal("human", False, now - 2.0)
    roll.pedal("human", True, now - 1.0)
    assert roll.pedal_down()
    spans = [(s.start_s - now, None if s.end_s is None else s.end_s - now) for s in roll.pedal_spans()]
    assert spans == [(-3.0, -2.0), (-1.0, None)]
    qtbot.wait(40)
    view = RollView(roll.width(), roll.height(), now, now, roll.window_s)
    lane = rollpaint.PEDAL_PX / 2
    assert _distance(_pixel(roll, lane, view.y(now - 2.5)), theme.HUMAN) < 120  # down
    assert _distance(_pixel(roll, lane, view.y(now - 1.5)), theme.HUMAN) > 200  # up
    assert _distance(_pixel(roll, lane, view.y(now - 0.5)), theme.HUMAN) < 120  # down now
    roll.release_all()  # panic lifts it
    assert not roll.pedal_down() and roll.pedal_spans()[-1].end_s == now


def test_every_c_is_named_readably_in_the_strip_at_a_1024_px_window_width(roll):
    width = 690  # the roll's width in a 1024 x 700 window
    labels = rollpaint.c_labels(width, 400, roll.font())
    assert [p for p, _ in labels] == [24, 36, 48, 60, 72, 84, 96, 108]  # C1 .. C8
    assert rollpaint.label_font(roll.font()).pointSizeF() >= 9
    rects = [r for _, r in labels]
    for a, b in zip(rects, rects[1:], strict=False):
        assert a.right() < b.left()  # none overlaps the next
    assert all(0 <= r.left() and r.right() <= width and r.top() >= 400 - rollpaint.AHEAD_PX for r in rects)
    image = rollpaint.background(width, 400, roll.font()).toImage()
    for pitch, rect in labels:  # each name is drawn there, light on the dark strip
        lit = sum(QColor(image.pixel(x, y)).lightness() > 120
                  for x in range(int(rect.left()), int(rect.right()))
                  for y in range(int(rect.top()), int(rect.bottom())))
        assert lit >= 12, pitch
