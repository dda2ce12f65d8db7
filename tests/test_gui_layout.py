"""A layout that holds still (issue 11, §3), on the real window in PerfJam's theme: at 1024x700,
1440x900 and the window's minimum size no control overlaps another or is squeezed below its
minimum, a message banner moves nothing, the transport keeps its place when Record becomes a timer
and Start becomes Stop, spin boxes show their arrows, and the start/stop button is green only
where it starts PerfJam. Screenshots with a banner showing go to tests/artifacts/gui-WxH.png."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from itertools import combinations  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

pytest.importorskip("pytestqt")

import test_gui_app  # noqa: E402
from PySide6.QtCore import QRect  # noqa: E402
from PySide6.QtGui import QImage  # noqa: E402
from PySide6.QtWidgets import QApplication, QLabel, QWidget  # noqa: E402

from perfjam.gui import app as gui_app  # noqa: E402
from perfjam.gui import theme  # noqa: E402
from perfjam.gui.transport import TransportBar  # noqa: E402

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
WARNING = "MIDI input 'Keystation 49' went away; it will reconnect when it comes back."
INFO = "Take saved: /home/pianist/Music/PerfJam/perfjam-2024-05-01-203000.mid"

harness = test_gui_app.harness  # the window on a real engine, built as `perfjam` builds it


@pytest.fixture
def themed(qapp):
    """PerfJam's style, palette and style sheet (as ``perfjam`` sets them), undone afterwards."""
    style, palette, sheet = qapp.style().name(), qapp.palette(), qapp.styleSheet()
    theme.apply(qapp)
    yield qapp
    qapp.setStyleSheet(sheet)
    qapp.setPalette(palette)
    qapp.setStyle(style)


def _settle(qtbot) -> None:
    for _ in range(3):
        QApplication.processEvents()
        qtbot.wait(20)


def controls(window) -> dict[str, QWidget]:
    """Every control and label a musician reads or clicks, by a name for the failure messages."""
    t, s = window.transport, window.side
    found: dict[str, QWidget] = {
        "play": t.play, "record": t.record, "panic": t.panic, "temperature": t.temperature,
        "temperature value": t.temperature_value, "temperature word": t.temperature_word,
        "roll": window.roll, "keyboard": window.keyboard, "side panel": s, "transport": t,
        **{f"mode {m}": b for m, b in t.mode_buttons.items()},
    }
    for name in ("model", "model_about", "soundfont", "midi_in", "midi_out", "gap", "length", "gap_label",
                 "length_label", "density", "key", "scale", "density_label", "key_label", "qwerty_hint",
                 "preset", "answer", "follow_key"):
        found[name] = getattr(s, name)
    found["load meter"] = window.status_bar.load_bar
    for i, label in enumerate(s.findChildren(QLabel)):
        if label.objectName() == "section":
            found[f"section {i} {label.text()}"] = label
    for i, label in enumerate(window.status_bar.findChildren(QLabel)):
        if label.isVisible() and label.text():
            found[f"status {i}"] = label
    return found


def geometry(widget: QWidget) -> QRect:
    top_left = widget.mapTo(widget.window(), widget.rect().topLeft())
    return QRect(top_left, widget.size())


def layout_problems(window) -> list[str]:
    """Overlapping siblings, and controls smaller than they need (text cut, boxes squashed)."""
    shown = {n: w for n, w in controls(window).items() if w.isVisible()}
    problems = []
    for (a, wa), (b, wb) in combinations(shown.items(), 2):
        if wa.isAncestorOf(wb) or wb.isAncestorOf(wa):
            continue
        overlap = geometry(wa).intersected(geometry(wb))
        if overlap.width() > 0 and overlap.height() > 0:
            problems.append(f"{a} {geometry(wa).getRect()} overlaps {b} {geometry(wb).getRect()}")
    for name, w in shown.items():
        # what a layout gives at least (a spin box's hint can be below its "minimum" hint)
        need = w.minimumSizeHint().boundedTo(w.sizeHint()) if w.sizeHint().isValid() else w.minimumSizeHint()
        if w.width() < need.width() or w.height() < need.height():
            problems.append(f"{name} is {w.width()}x{w.height()}, needs {need.width()}x{need.height()}")
    inside = window.rect()
    problems += [f"{n} is outside the window" for n, w in shown.items() if not inside.contains(geometry(w))]
    return problems


def screenshot(window, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    assert window.grab().save(str(path))
    return path


@pytest.mark.parametrize("size", [(1024, 700), (1440, 900)])
def test_a_message_banner_moves_nothing_and_no_control_overlaps(harness, themed, qtbot, gui_models, size):
    h = harness(model=gui_models["conditioned"])
    w = h.window
    w.services.describe_model = gui_app.describe_model  # as `perfjam` has it: a line under the picker
    w.services.model_steers = gui_app.model_steers  # and "steers" after a steerable model's name
    w.refresh_models(gui_models["conditioned"])
    w.resize(*size)
    h.status(lambda s: s.has_controls)
    for pitch in (60, 64, 67):  # a C major chord held: Key follows me marks C, E and G on the keyboard
        h.engine.human_note_on(pitch, 90)
    qtbot.waitUntil(lambda: w.keyboard.key_classes() == {0, 4, 7}, timeout=test_gui_app.WAIT_MS)
    _settle(qtbot)
    assert (w.width(), w.height()) == size
    before = {n: geometry(c) for n, c in controls(w).items()}
    assert layout_problems(w) == []

    w.banner.dismiss()  # (e.g. "No MIDI system found" where this machine has none)
    w.show_message(WARNING, "warning", details="port Keystation 49 MIDI 1 20:0 vanished")
    w.show_message(INFO, "info")
    _settle(qtbot)
    assert w.banner.isVisible() and w.banner.details.isVisible()
    assert {n: geometry(c) for n, c in controls(w).items()} == before  # nothing moved
    banner = geometry(w.banner)
    assert geometry(w.surface).contains(banner)  # it lies over the play surface only
    for other in ("side panel", "transport"):
        assert not banner.intersects(before[other]), other
    assert banner.height() >= w.banner.sizeHint().height() and w.banner.label.text() == f"{WARNING}\n{INFO}"
    assert layout_problems(w) == []
    shot = screenshot(w, "gui-{}x{}.png".format(*size))
    assert QImage(str(shot)).size().toTuple() == size

    w.banner.dismiss()
    _settle(qtbot)
    assert {n: geometry(c) for n, c in controls(w).items()} == before
    for pitch in (60, 64, 67):
        h.engine.human_note_off(pitch)


def test_the_window_never_gets_smaller_than_its_controls(harness, themed, qtbot):
    h = harness()
    w = h.window
    w.show_message(WARNING, "warning")
    w.resize(800, 500)
    _settle(qtbot)
    assert w.width() >= w.minimumSizeHint().width() and w.height() >= w.minimumSizeHint().height()
    assert w.width() > 800 and w.height() > 500
    assert (w.minimumWidth(), w.minimumHeight()) <= (1024, 700)  # a 1024x700 screen still fits it
    assert layout_problems(w) == []
    screenshot(w, "gui-minimum.png")


def test_the_transport_holds_still_when_record_becomes_a_timer_and_start_becomes_stop(themed, qtbot):
    t = TransportBar()  # on its own: no engine status to reset the buttons meanwhile
    qtbot.addWidget(t)
    t.resize(1000, t.sizeHint().height())
    t.show()
    qtbot.waitExposed(t)
    _settle(qtbot)
    parts = [t.play, t.record, t.panic, *t.mode_buttons.values(), t.temperature, t.temperature_value]
    before = [geometry(p) for p in parts]
    states = ((False, False, None, "●  Record"), (True, True, 754.0, "●  12:34"),
              (False, True, 5.0, "●  00:05"), (True, False, None, "●  Record"))
    for playing, recording, elapsed_s, shown in states:
        t.set_playing(playing)
        t.set_recording(recording, elapsed_s)
        _settle(qtbot)
        assert [geometry(p) for p in parts] == before, (playing, recording, t.record.text())
        assert t.record.text() == shown


def _rgb(widget: QWidget) -> np.ndarray:
    image = widget.grab().toImage().convertToFormat(QImage.Format.Format_RGB888)
    rows = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), image.bytesPerLine())
    return rows[:, : image.width() * 3].reshape(image.height(), image.width(), 3).astype(int)


def test_spin_boxes_show_their_arrows(harness, themed, qtbot):
    h = harness()
    gap = h.window.side.gap
    gap.setValue(1000)  # both arrows enabled
    _settle(qtbot)
    rgb = _rgb(gap)
    text = np.asarray([theme.TEXT.red(), theme.TEXT.green(), theme.TEXT.blue()])
    light = np.abs(rgb - text).max(axis=-1) < 60
    buttons = light[:, -22:]  # the arrows live in the right-hand 20 px
    half = buttons.shape[0] // 2
    assert buttons[:half].sum() >= 6 and buttons[half:].sum() >= 6, buttons.astype(int)


def test_the_start_button_is_green_only_while_it_starts_perfjam(harness, themed, qtbot):
    h = harness()
    t = h.window.transport

    def greenness() -> float:
        r, g, b = _rgb(t.play)[6:-6, 6:-6].reshape(-1, 3).mean(axis=0)
        return g - max(r, b)

    h.status(lambda s: s.playing)  # at launch: PerfJam plays, the button stops it
    _settle(qtbot)
    assert t.play.text().startswith("■") and "stop" in t.play.toolTip().lower()
    assert greenness() < 5
    t.play.click()  # as a pianist stops it (the engine's next statuses agree, not undo it)
    h.status(lambda s: not s.playing)
    _settle(qtbot)
    assert t.play.text().startswith("▶") and "start" in t.play.toolTip().lower()
    assert greenness() > 15
