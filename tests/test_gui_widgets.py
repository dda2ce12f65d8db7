"""GUI widgets on their own (no engine): keyboard geometry and mouse play, the computer-keyboard
piano, the piano roll's ring buffer and frame throttling, settings round-trips."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402

pytest.importorskip("pytestqt")

from PySide6.QtCore import QByteArray, QPoint, QPointF, Qt  # noqa: E402
from PySide6.QtGui import QMouseEvent  # noqa: E402

from perfjam.gui import keyboard as kb  # noqa: E402
from perfjam.gui.pianoroll import PianoRollWidget  # noqa: E402
from perfjam.gui.qwerty import QwertyPiano  # noqa: E402
from perfjam.gui.settings import Settings  # noqa: E402
from perfjam.sampling import DEFAULT_TEMPERATURE  # noqa: E402


class FakeClock:
    def __init__(self, t: float = 100.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_key_geometry_covers_88_keys_in_order():
    width = 52 * 20.0
    assert kb.NUM_WHITE == 52
    assert kb.key_span(21, width) == (0.0, 20.0)  # A0 is the first white key
    assert kb.key_span(108, width) == (51 * 20.0, 52 * 20.0)  # C8 the last
    centres = [sum(kb.key_span(p, width)) / 2 for p in range(21, 109)]
    assert centres == sorted(centres)
    for pitch in range(21, 109):  # the key found under each key's centre is that key
        left, right = kb.key_span(pitch, width)
        y = 10 if kb.is_black(pitch) else 100
        assert kb.pitch_at((left + right) / 2, y, width, 120) == pitch
    assert kb.pitch_name(60) == "C4" and kb.pitch_name(21) == "A0"  # its key names


def test_mouse_plays_with_velocity_and_glissando(qtbot):
    widget = kb.KeyboardWidget()
    qtbot.addWidget(widget)
    widget.resize(52 * 20, 120)
    events: list[tuple] = []
    widget.noteOn.connect(lambda p, v: events.append(("on", p, v)))
    widget.noteOff.connect(lambda p: events.append(("off", p)))
    c4 = QPoint(int(sum(kb.key_span(60, 1040)) / 2), 110)
    qtbot.mousePress(widget, Qt.MouseButton.LeftButton, pos=c4)
    d4 = QPoint(int(sum(kb.key_span(62, 1040)) / 2), 20)
    # glissando: QTest's mouseMove carries no buttons, so send a drag event with the button held
    drag = QMouseEvent(QMouseEvent.Type.MouseMove, QPointF(d4), QPointF(d4), Qt.MouseButton.NoButton,
                       Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    widget.mouseMoveEvent(drag)
    qtbot.mouseRelease(widget, Qt.MouseButton.LeftButton, pos=d4)
    assert [e[:2] for e in events] == [("on", 60), ("off", 60), ("on", 62), ("off", 62)]
    assert events[0][2] > events[2][2]  # low on the key is louder than high up


def test_lights_follow_sources(qtbot):
    widget = kb.KeyboardWidget()
    widget.set_lit(60, "human", 100, True)
    widget.set_lit(60, "ai", 80, True)
    widget.set_lit(64, "ai", 80, True)
    widget.set_lit(60, "human", 0, False)
    assert widget.lit() == {60: {"ai": 80}, 64: {"ai": 80}}
    widget.clear()
    assert widget.lit() == {}


def test_qwerty_piano_layout_octaves_and_no_stuck_notes(qtbot):
    piano = QwertyPiano(base=60)
    played: list[tuple] = []
    piano.noteOn.connect(lambda p, v: played.append(("on", p)))
    piano.noteOff.connect(lambda p: played.append(("off", p)))
    for key in (Qt.Key.Key_A, Qt.Key.Key_W, Qt.Key.Key_K, Qt.Key.Key_Apostrophe):
        assert piano.press(key) and piano.release(key)
    assert [p for kind, p in played if kind == "on"] == [60, 61, 72, 77]
    played.clear()
    piano.press(Qt.Key.Key_A)
    piano.press(Qt.Key.Key_X)  # octave up while A is held
    piano.press(Qt.Key.Key_A)  # a second press while held is ignored
    piano.release(Qt.Key.Key_A)  # releases the pitch it started, not the shifted one
    piano.press(Qt.Key.Key_A)
    piano.release_all()
    assert played == [("on", 60), ("off", 60), ("on", 72), ("off", 72)]
    assert piano.labels()[72] == "A" and piano.labels()[73] == "W"
    for _ in range(10):
        piano.press(Qt.Key.Key_X)
    assert piano.base == 96
    v = piano.velocity
    piano.press(Qt.Key.Key_V)
    assert piano.velocity > v
    assert not piano.press(Qt.Key.Key_Q) and not piano.press(Qt.Key.Key_R)  # not notes


def test_roll_keeps_notes_and_repaints_only_per_frame(qtbot):
    clock = FakeClock()
    roll = PianoRollWidget(clock=clock, window_s=4.0, capacity=64)
    qtbot.addWidget(roll)
    roll.resize(800, 300)
    roll.show()
    qtbot.waitExposed(roll)
    qtbot.wait(50)
    before = roll.paint_count
    for i in range(500):  # a burst of 1000 MIDI events
        roll.note_on("ai" if i % 2 else "human", 40 + i % 40, 100, clock.t)
        roll.note_off("ai" if i % 2 else "human", 40 + i % 40, clock.t + 0.01)
    qtbot.wait(100)
    assert 1 <= roll.paint_count - before <= 12  # ~60 fps, not once per event
    assert len(roll.notes()) == 64  # ring buffer
    # once everything has scrolled out of view the timer stops repainting; after the 30 s of
    # history the notes are forgotten
    clock.t += 40.0
    qtbot.wait(60)
    idle = roll.paint_count
    qtbot.wait(120)
    assert roll.paint_count == idle
    assert roll.notes() == []


def test_roll_active_notes_and_sounding(qtbot):
    clock = FakeClock()
    roll = PianoRollWidget(clock=clock)
    qtbot.addWidget(roll)
    lights: list[dict] = []
    roll.soundingChanged.connect(lights.append)
    roll.note_on("human", 60, 90, clock.t)
    roll.note_on("ai", 67, 70, clock.t + 0.15)  # scheduled ahead: not sounding yet
    assert roll.sounding() == {60: {"human": 90}}
    clock.t += 0.2
    assert roll.sounding() == {60: {"human": 90}, 67: {"ai": 70}}
    qtbot.waitUntil(lambda: bool(lights) and lights[-1] == {60: {"human": 90}, 67: {"ai": 70}}, timeout=1000)
    roll.release_all()
    assert roll.active() == {} and all(n.end_s == clock.t for n in roll.notes())
    qtbot.waitUntil(lambda: lights[-1] == {}, timeout=1000)


def test_settings_round_trip(tmp_path):
    path = tmp_path / "perfjam.ini"
    s = Settings(path)
    assert (s.midi_input, s.model, s.temperature, s.mode) == (None, None, DEFAULT_TEMPERATURE, "call")
    s.midi_input, s.midi_output, s.midi_api = "Keystation 49", "FLUID", "jack"
    s.model, s.soundfont = "/models/x.onnx", "/sf/piano.sf2"
    s.temperature, s.mode = 1.37, "duet"
    s.response_gap_ms, s.response_length_s = 900, 12.0
    s.density, s.key, s.scale, s.qwerty_octave = 3, 7, "minor", 48
    s.geometry = QByteArray(b"\x01\x02geometry")
    s.add_recent_model("/a.onnx")
    s.add_recent_model("/b.onnx")
    s.add_recent_model("/a.onnx")
    s.sync()
    r = Settings(path)
    assert (r.midi_input, r.midi_output, r.midi_api) == ("Keystation 49", "FLUID", "jack")
    assert (r.model, r.soundfont, r.temperature, r.mode) == ("/models/x.onnx", "/sf/piano.sf2", 1.37, "duet")
    assert (r.response_gap_ms, r.response_length_s) == (900, 12.0)
    assert (r.density, r.key, r.scale, r.qwerty_octave) == (3, 7, "minor", 48)
    assert bytes(r.geometry.data()) == b"\x01\x02geometry"
    assert r.recent_models == ["/a.onnx", "/b.onnx"]
    r.midi_input = None  # "(none)" is remembered as no port
    r.sync()
    assert Settings(path).midi_input is None


def test_settings_survive_garbage(tmp_path):
    path = tmp_path / "bad.ini"
    path.write_text("[play]\ntemperature=hot\nmode=karaoke\nresponse_gap_ms=-5\nkey=99\n")
    s = Settings(path)
    assert (s.temperature, s.mode, s.response_gap_ms, s.key) == (DEFAULT_TEMPERATURE, "call", 100, 11)
