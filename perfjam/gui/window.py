"""The main window: play surface, controls, menus, shortcuts, status bar and messages."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QFrame,
    QHBoxLayout,
    QMainWindow,
    QVBoxLayout,
    QWidget,
)

from perfjam.controls import scale_histogram
from perfjam.gui import theme
from perfjam.gui.bridge import EngineBridge
from perfjam.gui.controls import SidePanel, TransportBar
from perfjam.gui.files import FileActions
from perfjam.gui.keyboard import KeyboardWidget
from perfjam.gui.messages import CAPTION_COLOURS, CAPTIONS, MessageBanner, show_about, show_shortcuts
from perfjam.gui.pianoroll import PianoRollWidget
from perfjam.gui.ports import PortWatcher
from perfjam.gui.qwerty import QwertyPiano
from perfjam.gui.settings import Settings
from perfjam.gui.statusbar import StatusBar
from perfjam.midi_io import MidiError, find_port
from perfjam.recorder import default_recording_path, recordings_dir

PENDING_S = 1.5  # how long a click wins over a status report that has not caught up yet
TEMPERATURE_STEP = 0.05


@dataclass
class Services:
    """Where the window finds ports, models, soundfonts and the recordings folder."""

    list_ports: Callable[[], tuple[list[str], list[str]]] = lambda: ([], [])
    models: Callable[[], list[str]] = list
    soundfonts: Callable[[], list[str]] = list
    recordings_dir: Path = field(default_factory=recordings_dir)
    port_poll_ms: int = 2000


def resolve_port(names: list[str], wanted: str | None) -> str | None:
    """The listed port a remembered name means (as the engine finds it: exact, same device with
    other ALSA numbers, or a unique part of a name); the name itself when none matches."""
    if not wanted:
        return None
    try:
        return names[find_port(names, wanted)]
    except MidiError:
        return wanted


class MainWindow(QMainWindow):
    def __init__(
        self, bridge: EngineBridge, settings: Settings, services: Services | None = None,
        messages: tuple[tuple[str, str], ...] = (),
    ) -> None:
        super().__init__()
        self.bridge = bridge
        self.settings = settings
        self.services = services or Services()
        self.last_status: Any = None
        self._pending: dict[str, float] = {}
        self._recording_path: str | None = None
        self._model_name: str | None = None
        self._port_states: dict[str, str] = {}
        self._model_wanted: str | None = None  # a model being loaded, remembered once it runs
        self.setWindowTitle("PerfJam")
        self._build()
        self.files = FileActions(self)
        self._build_menus()
        self._connect()
        self._restore()
        QApplication.instance().installEventFilter(self)
        for text, level in messages:
            self.show_message(text, level)
        if bridge.engine is None:
            self.roll.set_caption("No model loaded: choose one with File ▸ Open model (Ctrl+O)", theme.WARN)

    # ---- layout -------------------------------------------------------------------------------
    def _build(self) -> None:
        central = QWidget()
        outer = QVBoxLayout(central)
        outer.setContentsMargins(10, 10, 10, 6)
        outer.setSpacing(8)
        self.transport = TransportBar()
        outer.addWidget(self.transport)
        self.banner = MessageBanner()
        outer.addWidget(self.banner)
        row = QHBoxLayout()
        row.setSpacing(8)
        surface = QFrame()
        surface.setObjectName("panel")
        play = QVBoxLayout(surface)
        play.setContentsMargins(8, 8, 8, 8)
        play.setSpacing(0)
        self.roll = PianoRollWidget()
        self.keyboard = KeyboardWidget()
        play.addWidget(self.roll, 1)
        play.addWidget(self.keyboard)
        row.addWidget(surface, 1)
        self.side = SidePanel()
        row.addWidget(self.side)
        outer.addLayout(row, 1)
        self.setCentralWidget(central)
        self.status_bar = StatusBar()
        self.setStatusBar(self.status_bar)
        self.qwerty = QwertyPiano(base=self.settings.qwerty_octave, parent=self)
        self.keyboard.set_key_labels(self.qwerty.labels())
        self.side.set_qwerty(self.qwerty.base, self.qwerty.velocity)
        self.ports = PortWatcher(self.services.list_ports, self.services.port_poll_ms, self)

    def _action(self, menu: Any, text: str, slot: Callable, *keys: str) -> QAction:
        action = QAction(text, self)
        if keys:
            action.setShortcuts([QKeySequence(k) for k in keys])
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        action.triggered.connect(slot)
        menu.addAction(action)
        return action

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file = bar.addMenu("&File")
        self._action(file, "Open &model…", self.files.open_model_file, "Ctrl+O")
        self._action(file, "Open &SoundFont…", self.files.open_soundfont_file)
        file.addSeparator()
        self._action(file, "&Recordings folder", self.files.open_recordings_folder)
        self._action(file, "&Export last take…", self.files.export_last_take, "Ctrl+E")
        file.addSeparator()
        self._action(file, "&Quit", self.close, "Ctrl+Q")
        play = bar.addMenu("&Play")
        self._action(play, "Start / stop", self.transport.play.toggle, "Space")
        self._action(play, "Record", self.transport.record.toggle, "R")
        self._action(play, "Panic (all notes off)", self.panic, "Esc")
        play.addSeparator()
        nudge = self.transport.nudge_temperature
        self._action(play, "Temperature up", lambda: nudge(TEMPERATURE_STEP), "Up", "Right")
        self._action(play, "Temperature down", lambda: nudge(-TEMPERATURE_STEP), "Down", "Left")
        help_menu = bar.addMenu("&Help")
        self._action(help_menu, "&Keyboard shortcuts", lambda: show_shortcuts(self), "F1")
        self._action(help_menu, "&About PerfJam", lambda: show_about(self))

    def _connect(self) -> None:
        b, t, s = self.bridge, self.transport, self.side
        b.noteEvent.connect(self._on_note)
        b.status.connect(self._on_status)
        b.error.connect(self._on_error)
        b.engineChanged.connect(lambda _: self._send_all())
        self.roll.soundingChanged.connect(self.keyboard.set_lights)
        t.playToggled.connect(self._on_play)
        t.recordToggled.connect(self._on_record)
        t.panicClicked.connect(self.panic)
        t.temperatureChanged.connect(self._on_temperature)
        t.modeChanged.connect(self._on_mode)
        s.modelChosen.connect(self.load_model)
        s.openModelRequested.connect(self.files.open_model_file)
        s.soundfontChosen.connect(self.load_soundfont)
        s.openSoundfontRequested.connect(self.files.open_soundfont_file)
        s.midiInputChanged.connect(self._on_midi_input)
        s.midiOutputChanged.connect(self._on_midi_output)
        s.responseChanged.connect(self._on_response)
        s.controlsChanged.connect(lambda *_: self._send_controls())
        for source in (self.keyboard, self.qwerty):
            source.noteOn.connect(b.human_note_on)
            source.noteOff.connect(b.human_note_off)
        self.qwerty.layoutChanged.connect(self._on_qwerty_layout)
        self.ports.changed.connect(self._on_ports)
        self.ports.failed.connect(lambda text: self.show_message(text, "warning"))

    def _restore(self) -> None:
        st = self.settings
        geometry = st.geometry
        if geometry is None or not self.restoreGeometry(geometry):
            screen = QApplication.primaryScreen().availableGeometry()
            self.resize(min(1400, screen.width()), min(880, screen.height()))
            self.move(screen.center() - self.rect().center())
        self.refresh_models(st.model)
        self.side.set_soundfonts(self.services.soundfonts(), st.soundfont)
        self._on_ports([], [])  # the remembered ports show even when MIDI cannot be listed
        self.ports.refresh()
        self.side.set_response(st.response_gap_ms, st.response_length_s)
        self.side.density.setCurrentIndex(min(st.density, self.side.density.count() - 1))
        self.side.key.setCurrentIndex(max(0, self.side.key.findData(st.key)))
        self.side.scale.setCurrentText(st.scale)
        self.transport.set_playing(True)  # ready at once: play and PerfJam answers
        self.transport.set_temperature(st.temperature)
        self.transport.set_mode(st.mode)
        self.side.set_mode(st.mode)
        self._send_all()

    def _send_all(self) -> None:
        """Tell a (new) engine everything the window shows."""
        self.bridge.set_playing(self.transport.play.isChecked())
        self.bridge.set_temperature(self.transport.temperature_value_f())
        self.bridge.set_mode(self.transport.mode())
        self.bridge.set_response(self.side.gap.value(), self.side.length.value())
        self._send_controls()

    # ---- engine -> window ---------------------------------------------------------------------
    def _on_note(self, r: Any) -> None:
        if r.is_on:
            self.roll.note_on(r.source, r.pitch, r.velocity, r.time_s)
        else:
            self.roll.note_off(r.source, r.pitch, r.time_s)

    def _fresh(self, what: str) -> bool:
        return time.monotonic() < self._pending.get(what, 0.0)

    def _on_status(self, s: Any) -> None:
        self.last_status = s
        self.status_bar.show_status(s)
        if not self._fresh("play"):
            self.transport.set_playing(bool(s.playing))
        path = str(s.recording_path) if s.recording_path else None
        if not self._fresh("record"):
            self.transport.set_recording(path is not None, s.recording_elapsed_s)
        if self._recording_path and path != self._recording_path:
            self.files.take_finished(self._recording_path)
        self._recording_path = path
        self.side.set_has_controls(bool(s.has_controls))
        if s.model_name != self._model_name:
            first = self._model_name is None
            self._model_name = s.model_name
            self.setWindowTitle(f"PerfJam — {s.model_name}")
            if self.side.model.findData(s.model_name) >= 0:  # a shipped model, maybe a fallback
                self.side.select(self.side.model, s.model_name)
            if self._model_wanted is not None:
                self.settings.model, self._model_wanted = self._model_wanted, None
            if not first:
                self.show_message(f"Model loaded: {s.model_name}", "info")
            if s.has_controls:
                self._send_controls()
        self._port_news(s)
        caption = CAPTIONS.get((s.state, s.mode), CAPTIONS.get((s.state, ""), ""))
        self.roll.set_caption(caption, CAPTION_COLOURS.get(s.state))

    def _on_error(self, message: str) -> None:
        self.show_message(message, "error")
        wanted = self._model_wanted
        if wanted is not None and Path(wanted).name in message:  # that model failed to load
            self._model_wanted = None
            self.settings.remove_recent_model(wanted)
            self.refresh_models(self.settings.model)  # back to the one still playing

    def refresh_models(self, current: str | None) -> None:
        """The model picker: shipped models, recently opened files and the current one."""
        st = self.settings
        names = [*self.services.models(), *st.recent_models, *([st.model] if st.model else [])]
        self.side.set_models(names, current)

    def show_message(self, text: str, level: str = "error") -> None:
        self.banner.show_message(text, level)

    # ---- window -> engine ---------------------------------------------------------------------
    def _on_play(self, on: bool) -> None:
        self._pending["play"] = time.monotonic() + PENDING_S
        self.bridge.set_playing(on)

    def _on_record(self, on: bool) -> None:
        self._pending["record"] = time.monotonic() + PENDING_S
        if on and self.bridge.engine is None:
            self.show_message("Nothing to record yet: load a model first (File ▸ Open model).", "warning")
            self.transport.set_recording(False)
            return
        if on:
            folder = self.services.recordings_dir
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                self.show_message(f"Cannot record into {folder}: {exc}", "error")
                self.transport.set_recording(False)
                return
            self.bridge.start_recording(str(default_recording_path(folder)))
        else:
            self.bridge.stop_recording()

    def _on_temperature(self, t: float) -> None:
        self.bridge.set_temperature(t)
        self.settings.temperature = t

    def _on_mode(self, mode: str) -> None:
        self.bridge.set_mode(mode)
        self.side.set_mode(mode)
        self.settings.mode = mode

    def _on_response(self, gap_ms: int, length_s: float) -> None:
        self.bridge.set_response(gap_ms, length_s)
        self.settings.response_gap_ms, self.settings.response_length_s = gap_ms, length_s

    def _send_controls(self) -> None:
        density, pitch = self.side.controls()
        self.settings.density = self.side.density.currentIndex()
        self.settings.key = -1 if pitch is None else pitch[0]
        self.settings.scale = self.side.scale.currentText()
        if self.last_status is None or self.last_status.has_controls:
            histogram = None if pitch is None else scale_histogram(pitch[0], pitch[1])
            self.bridge.set_controls(density, histogram)

    def load_model(self, name_or_path: str) -> None:
        """Load in the background; remembered in the settings once the engine runs it."""
        self._model_wanted = name_or_path
        if "/" in name_or_path:
            self.settings.add_recent_model(name_or_path)
        self.bridge.load_model(name_or_path)

    def load_soundfont(self, path: str) -> None:
        self.settings.soundfont = path
        self.bridge.set_soundfont(path)

    def _on_midi_input(self, name: str | None) -> None:
        self.settings.midi_input = name
        self.bridge.set_midi_input(name)

    def _on_midi_output(self, name: str | None) -> None:
        self.settings.midi_output = name
        self.bridge.set_midi_output(name)

    def _on_ports(self, inputs: list[str], outputs: list[str]) -> None:
        """Hot-plug: refresh the pickers (the engine itself reopens a chosen port that returns)."""
        self.side.set_ports(self.side.midi_in, inputs, resolve_port(inputs, self.settings.midi_input))
        self.side.set_ports(self.side.midi_out, outputs, resolve_port(outputs, self.settings.midi_output))

    def _port_news(self, s: Any) -> None:
        """A message when a chosen port goes away or comes back."""
        ports = (("input", s.midi_in, s.midi_in_state), ("output", s.midi_out, s.midi_out_state))
        for kind, name, state in ports:
            before = self._port_states.get(kind)
            self._port_states[kind] = state
            if before is None or before == state or not name:
                continue
            if state == "disconnected":
                self.show_message(f"MIDI {kind} {name!r} went away; it will reconnect when it comes back.",
                                  "warning")
            elif state == "connected" and before == "disconnected":
                self.show_message(f"MIDI {kind} {name!r} is back.", "info")

    def _on_qwerty_layout(self) -> None:
        self.keyboard.set_key_labels(self.qwerty.labels())
        self.side.set_qwerty(self.qwerty.base, self.qwerty.velocity)
        self.settings.qwerty_octave = self.qwerty.base

    def panic(self) -> None:
        self.qwerty.release_all()
        self.bridge.panic()
        self.roll.release_all()
        self.keyboard.clear()

    # ---- keys and closing ---------------------------------------------------------------------
    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if event.type() in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease):
            if isinstance(obj, QWidget) and obj.window() is self and self.qwerty.handle(event):
                return True
        return super().eventFilter(obj, event)

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.ActivationChange and not self.isActiveWindow():
            self.qwerty.release_all()  # the key-ups would go to another window
        super().changeEvent(event)

    def closeEvent(self, event: QCloseEvent) -> None:
        app = QApplication.instance()
        if app is not None:
            app.removeEventFilter(self)
        self.qwerty.release_all()
        self.settings.geometry = self.saveGeometry()
        self.settings.sync()
        self.ports.stop()
        self.bridge.shutdown()  # releases every note, finalises the recording
        if self._recording_path:
            self.files.take_finished(self._recording_path)
        self.settings.sync()
        super().closeEvent(event)
