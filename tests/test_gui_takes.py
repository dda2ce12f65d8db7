"""Takes you can find and replay (issue 11, §5), in the real window on a real engine and synth
(FluidSynth without an audio driver): the takes list shows the recordings folder newest first
with date, length and note counts; a take plays back through the synth and stops; rename refuses
a clash, delete asks first; a finished recording appears in the list and on the last-take chip.
Screenshots of the roll and the list at 1024x700 go to tests/artifacts/."""

from __future__ import annotations

import datetime as dt
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import time  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

pytest.importorskip("pytestqt")

import test_gui_app  # noqa: E402
import test_gui_layout  # noqa: E402
from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtWidgets import QMessageBox  # noqa: E402

from perfjam.journal import AI, HUMAN, build_midi  # noqa: E402
from perfjam.playback import PLAYBACK_CHANNELS  # noqa: E402
from perfjam.takelist import TakeIndex  # noqa: E402

harness = test_gui_app.harness  # the window on a real engine, built as `perfjam` builds it
themed = test_gui_layout.themed  # PerfJam's style, as `perfjam` sets it
WAIT_MS = test_gui_app.WAIT_MS
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"


def make_take(folder: Path, name: str, notes, age_s: float = 0.0) -> Path:
    """A take as the recorder writes it: notes (start ms, end ms, track, pitch), its file
    ``age_s`` seconds old."""
    events = []
    for start_ms, end_ms, track, pitch in notes:
        events += [(start_ms, track, (0x90, pitch, 90)), (end_ms, track, (0x80, pitch, 0))]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.mid"
    build_midi(sorted(events)).save(str(path))
    stamp = time.time() - age_s
    os.utime(path, (stamp, stamp))
    return path


PHRASE = [(0, 400, HUMAN, 60), (500, 900, HUMAN, 64), (1000, 1500, AI, 67)]


@pytest.fixture
def takes(harness, qtbot):
    h = harness()
    folder = h.recordings
    old = make_take(folder, "perfjam-20240501-200000", PHRASE, age_s=3600)
    new = make_take(folder, "perfjam-20240502-210000", [*PHRASE, (1600, 3250, AI, 72)], age_s=60)
    (folder / "broken.mid").write_bytes(b"MThd not really")
    os.utime(folder / "broken.mid", (time.time() - 7200, time.time() - 7200))
    (folder / "perfjam-live.mid.journal").write_text("PERFJAM-JOURNAL 1 {}\n")  # being recorded
    (folder / ".perfjam-x.mid.tmp").write_bytes(b"")
    dialog = h.window.takes
    dialog.refresh()
    _read(qtbot, dialog)
    return h, dialog, old, new


def _read(qtbot, dialog) -> None:
    """Wait until the list has read every take's length and notes (a worker thread does)."""
    qtbot.waitUntil(lambda: not dialog.reading and not any(i.pending for i in dialog.infos), timeout=WAIT_MS)


def _rows(dialog) -> list[list[str]]:
    items = [dialog.list.topLevelItem(i) for i in range(dialog.list.topLevelItemCount())]
    return [[item.text(c) for c in range(5)] for item in items]


def test_the_takes_list_shows_the_folder_newest_first_with_date_length_and_notes(takes, qtbot):
    h, dialog, old, new = takes
    make_take(h.recordings, "perfjam-20240503-090000", PHRASE, age_s=1)
    qtbot.keyClick(h.window, Qt.Key.Key_T, Qt.KeyboardModifier.ControlModifier)  # File ▸ Takes…
    assert dialog.isVisible()
    assert _rows(dialog)[0][::2] == ["perfjam-20240503-090000", "…", "…"]  # listed at once
    _read(qtbot, dialog)  # its length and notes read in the background
    assert _rows(dialog)[0][2:] == ["0:02", "2", "1"]
    (h.recordings / "perfjam-20240503-090000.mid").unlink()
    qtbot.waitUntil(lambda: len(dialog.names()) == 3, timeout=WAIT_MS)  # it follows the folder
    rows = _rows(dialog)
    assert [r[0] for r in rows] == ["perfjam-20240502-210000", "perfjam-20240501-200000", "broken"]
    stamp = dt.datetime.fromtimestamp(new.stat().st_mtime).strftime("%Y-%m-%d %H:%M")
    assert rows[0] == ["perfjam-20240502-210000", stamp, "0:03", "2", "2"]
    assert rows[1][2:] == ["0:02", "2", "1"]
    assert rows[2][2:] == ["?", "0", "0"] and "Cannot be read" in dialog.list.topLevelItem(2).toolTip(0)
    assert dialog.selected() == new  # the newest is chosen


def test_a_take_plays_through_the_synth_without_blocking_and_stops(takes, qtbot):
    h, dialog, old, new = takes
    synth = h.startup.synth
    long_take = make_take(h.recordings, "long", [(0, 60_000, HUMAN, 48), (100, 60_000, AI, 55)])
    dialog.refresh(long_take)
    started = time.perf_counter()
    player = dialog.play()
    assert time.perf_counter() - started < 0.2  # the file is read and played on another thread
    human, ai = PLAYBACK_CHANNELS
    qtbot.waitUntil(lambda: {(human, 48), (ai, 55)} <= synth.sounding_notes(), timeout=WAIT_MS)
    assert dialog.play_button.text().endswith("Stop")
    qtbot.waitUntil(lambda: "Playing long" in dialog.status.text(), timeout=WAIT_MS)
    h.status(lambda s: s.state == "paused")  # the AI holds while the take plays
    dialog.play_button.click()  # Stop
    assert not player.running and player.sounding() == set()
    h.status(lambda s: s.state != "paused")
    assert not {n for n in synth.sounding_notes() if n[0] in PLAYBACK_CHANNELS}
    assert dialog.play_button.text().endswith("Play") and dialog.player is None
    assert player.notes_sent == 2

    short = dialog.play(old)  # to its end: 3 notes, then nothing left sounding
    qtbot.waitUntil(lambda: short.finished, timeout=WAIT_MS)
    assert short.notes_sent == 3 and not {n for n in synth.sounding_notes() if n[0] in PLAYBACK_CHANNELS}
    qtbot.waitUntil(lambda: dialog.status.text().startswith("Played"), timeout=WAIT_MS)
    again = dialog.play(new)
    qtbot.keyClick(h.window, Qt.Key.Key_Escape)  # panic stops a playback too
    assert not again.running and dialog.player is None


def test_rename_refuses_bad_names_and_clashes_and_never_overwrites(takes):
    h, dialog, old, new = takes
    h.settings.last_take = str(new)
    renamed = dialog.rename(new, "  Evening duet.mid ")
    assert renamed == new.with_name("Evening duet.mid") and renamed.is_file() and not new.exists()
    assert h.settings.last_take == str(renamed) and dialog.chip.take == renamed  # the chip follows
    before = renamed.read_bytes()
    for bad, why in (("Evening duet", "already"), ("", "needs a name"), ("a/b", "cannot contain"),
                     (".hidden", "dot")):
        assert dialog.rename(old, bad) is None
        assert why in dialog.status.text(), (bad, dialog.status.text())
    assert old.is_file() and renamed.read_bytes() == before  # nothing overwritten, nothing lost
    assert dialog.names()[:2] == ["Evening duet", "perfjam-20240501-200000"]
    box = dialog.ask_rename(old)  # the dialog the Rename… button opens
    box.setTextValue("Morning")
    box.accept()
    assert old.with_name("Morning.mid").is_file() and "Morning" in dialog.names()


def test_delete_asks_first_then_moves_the_take_to_the_trash(takes, tmp_path, monkeypatch):
    h, dialog, old, new = takes
    for name in ("home", "data"):  # the trash of this test only
        (tmp_path / name).mkdir()
        monkeypatch.setenv("HOME" if name == "home" else "XDG_DATA_HOME", str(tmp_path / name))
    h.settings.last_take = str(new)
    dialog.chip.set_take(new)
    box = dialog.ask_delete(new)
    box.button(QMessageBox.StandardButton.Cancel).click()
    assert new.is_file()
    box = dialog.ask_delete(new)
    box.button(QMessageBox.StandardButton.Yes).click()
    assert not new.exists() and new.stem not in dialog.names()
    trashed = list((tmp_path / "data").rglob(new.name))
    assert trashed and "trash" in dialog.status.text()
    assert h.settings.last_take is None and not dialog.chip.isVisible()
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "gone"))  # no trash there: deleted for good
    assert dialog.delete(old) and not old.exists() and "deleted" in dialog.status.text()
    assert dialog.names() == ["broken"]


def test_export_wav_from_the_list_renders_in_the_background(takes, qtbot, tmp_path):
    h, dialog, old, new = takes
    target = tmp_path / "out.wav"
    assert dialog.export_wav(old, target)
    job = h.window.files.exports[-1]
    assert job.progress.isVisible() or not job.running  # progress shows while it renders
    qtbot.waitUntil(lambda: not job.running and not job.progress.isVisible(), timeout=20000)
    assert job.result == (True, str(target)) and target.stat().st_size > 44 * 1000


def test_a_finished_recording_appears_in_the_list_and_on_the_last_take_chip(harness, qtbot):
    h = harness()
    dialog, chip = h.window.takes, h.window.takes.chip
    assert not chip.isVisible()  # no take yet
    dialog.open_takes()
    assert dialog.names() == [] and dialog.status.text().startswith("No takes yet")
    h.window.activateWindow()  # back to playing, the list open beside the window
    qtbot.waitUntil(h.window.isActiveWindow)
    qtbot.keyClick(h.window, Qt.Key.Key_R)
    take = Path(h.status(lambda s: s.recording_path is not None).recording_path)
    qtbot.keyClick(h.window, Qt.Key.Key_G)
    qtbot.keyClick(h.window, Qt.Key.Key_R)
    h.status(lambda s: s.recording_path is None)
    qtbot.waitUntil(lambda: chip.isVisible() and take.stem in chip.text(), timeout=WAIT_MS)
    qtbot.waitUntil(lambda: take.stem in dialog.names(), timeout=WAIT_MS)  # once its file is written
    assert not any("Take saved" in t for t in h.window.banner.history)  # a chip, not a banner
    qtbot.mouseClick(chip, Qt.MouseButton.LeftButton)
    assert dialog.isVisible() and dialog.selected() == take


def test_end_brings_the_roll_back_to_now(harness, qtbot):
    h = harness()
    roll = h.window.roll
    roll.note_on("human", 60, 90, roll.clock() - 5)
    roll.scroll_back(4.0)
    assert not roll.live
    qtbot.keyClick(h.window, Qt.Key.Key_End)
    assert roll.live


def test_screenshots_of_the_roll_and_the_takes_list_at_1024x700(takes, themed, qtbot):
    h, dialog, old, new = takes
    w = h.window
    qtbot.keyClick(w, Qt.Key.Key_Space)  # the AI stopped: only the notes drawn here
    h.status(lambda s: not s.playing)
    w.resize(1024, 700)
    roll = w.roll
    now = roll.clock()
    for i, pitch in enumerate((48, 55, 60, 64, 67, 72, 76)):  # a phrase, the pedal down under it
        roll.note_on("human", pitch, 70 + 8 * i, now - 6.0 + 0.5 * i)
        roll.note_off("human", pitch, now - 5.6 + 0.5 * i + (1.5 if pitch == 48 else 0))
    roll.pedal("human", True, now - 6.1)
    roll.pedal("human", False, now - 2.4)
    for i, pitch in enumerate((79, 76, 72, 67)):  # the answer: sounding, then still ahead
        roll.note_on("ai", pitch, 100, now - 1.5 + 0.5 * i)
        roll.note_off("ai", pitch, now - 1.1 + 0.5 * i)
    roll.note_on("ai", 64, 100, now + 0.2)
    roll.note_on("ai", 60, 100, now + 0.35)
    h.settings.last_take = str(new)
    dialog.chip.set_take(new)
    w.show_message("No MIDI system found — play with the computer keyboard or the mouse.", "warning")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    qtbot.wait(50)
    assert w.banner.isVisible() and dialog.chip.isVisible()
    assert not test_gui_layout.geometry(dialog.chip).intersects(test_gui_layout.geometry(w.banner))
    assert test_gui_layout.geometry(w.roll).contains(test_gui_layout.geometry(dialog.chip))
    assert w.grab().save(str(ARTIFACTS / "roll-1024x700.png"))
    roll.scroll_back(3.0)
    qtbot.wait(50)
    assert w.grab().save(str(ARTIFACTS / "roll-back-1024x700.png"))
    dialog.open_takes(new)
    qtbot.waitExposed(dialog)
    assert dialog.grab().save(str(ARTIFACTS / "takes-list.png"))
    assert len(TakeIndex(h.recordings).list()) == 3
