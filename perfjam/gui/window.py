"""The main window: play surface, controls, menus, shortcuts, status bar and messages."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QCloseEvent, QKeyEvent
from PySide6.QtWidgets import (
    QAbstractSpinBox,
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
from perfjam.gui.controls import SidePanel
from perfjam.gui.files import FileActions, same_file
from perfjam.gui.keyboard import KeyboardWidget
from perfjam.gui.menus import build_menus
from perfjam.gui.messages import CAPTION_COLOURS, CAPTIONS, MessageBanner
from perfjam.gui.pianoroll import PianoRollWidget
from perfjam.gui.ports import PortPickers, PortWatcher
from perfjam.gui.qwerty import DEFAULT_BASE, QwertyPiano
from perfjam.gui.settings import DEFAULT_GAP_MS, DEFAULT_LENGTH_S, Settings
from perfjam.gui.statusbar import StatusBar
from perfjam.gui.steering import Steering
from perfjam.gui.takes import TakesDialog
from perfjam.gui.transport import TransportBar
from perfjam.recorder import default_recording_path, recordings_dir
from perfjam.sampling import DEFAULT_TEMPERATURE

PENDING_S = 1.5  # how long a click wins over a status report that has not caught up yet
DEFAULT_SIZE = (1400, 880)  # a first start, or after Reset settings (at most the screen)
# Keys a focused spin box uses itself: they never reach the window's shortcuts (temperature,
# Answer now).
EDIT_KEYS = frozenset({Qt.Key.Key_Up, Qt.Key.Key_Down, Qt.Key.Key_Left, Qt.Key.Key_Right,
                       Qt.Key.Key_PageUp, Qt.Key.Key_PageDown, Qt.Key.Key_Home, Qt.Key.Key_End,
                       Qt.Key.Key_Return, Qt.Key.Key_Enter})


@dataclass
class Services:
    """Where the window finds ports, models (and a line about each), soundfonts (and the one the
    synth plays) and the recordings folder."""

    list_ports: Callable[[], tuple[list[str], list[str]]] = lambda: ([], [])
    models: Callable[[], list[str]] = list
    soundfonts: Callable[[], list[str]] = list
    recordings_dir: Path = field(default_factory=recordings_dir)
    port_poll_ms: int = 2000
    describe_model: Callable[[str], str] = lambda _name: ""
    model_steers: Callable[[str], bool] = lambda _name: False
    playing_soundfont: Callable[[], str | None] = lambda: None


class MainWindow(QMainWindow):
    def __init__(
        self, bridge: EngineBridge, settings: Settings, services: Services | None = None,
        messages: Iterable[tuple[str, ...]] = (), ports: tuple[str | None, str | None] | None = None,
    ) -> None:
        """``messages``: (text, level[, details[, key]]) to show at once; ``ports``: the MIDI
        input and output this session plays with (default: the remembered ones)."""
        super().__init__()
        self.bridge = bridge
        self.settings = settings
        self.services = services or Services()
        self.last_status: Any = None
        self._pending: dict[str, float] = {}
        self._recording_path: str | None = None
        self._model_name: str | None = None
        self._model_wanted: str | None = None  # a model being loaded, remembered once it runs
        self._soundfont_wanted: str | None = None  # a SoundFont being loaded, remembered once it plays
        self.setWindowTitle("PerfJam")
        self._build(ports or (settings.midi_input, settings.midi_output))
        self.files = FileActions(self)
        self.takes = TakesDialog(self)  # the takes list and the last-take chip
        build_menus(self)
        self._connect()
        self._restore()
        QApplication.instance().installEventFilter(self)
        for message in messages:
            self.show_message(*message)
        if bridge.engine is None:
            self.roll.set_caption("No model loaded: choose one with File ▸ Open model (Ctrl+O)", theme.WARN)

    # ---- layout -------------------------------------------------------------------------------
    def _build(self, ports: tuple[str | None, str | None]) -> None:
        """The window's minimum size is its layout's (Qt keeps it there, as fonts and style change):
        every control has its full minimum size in it, and the banner floats, so that a message
        never changes it."""
        central = QWidget()
        outer = QVBoxLayout(central)
        outer.setContentsMargins(10, 10, 10, 6)
        outer.setSpacing(8)
        self.transport = TransportBar()
        outer.addWidget(self.transport)
        row = QHBoxLayout()
        row.setSpacing(8)
        self.surface = QFrame()
        self.surface.setObjectName("panel")
        play = QVBoxLayout(self.surface)
        play.setContentsMargins(8, 8, 8, 8)
        play.setSpacing(0)
        self.roll = PianoRollWidget()
        self.keyboard = KeyboardWidget()
        play.addWidget(self.roll, 1)
        play.addWidget(self.keyboard)
        row.addWidget(self.surface, 1)
        self.side = SidePanel()
        row.addWidget(self.side)
        outer.addLayout(row, 1)
        self.setCentralWidget(central)
        self.banner = MessageBanner()
        self.banner.attach(self.surface)  # over the roll's top: a message never moves a control
        self.status_bar = StatusBar()
        self.setStatusBar(self.status_bar)
        self.qwerty = QwertyPiano(base=self.settings.qwerty_octave, parent=self)
        self.keyboard.set_key_labels(self.qwerty.labels())
        self.side.set_qwerty(self.qwerty.base, self.qwerty.velocity)
        self.ports = PortWatcher(self.services.list_ports, self.services.port_poll_ms, self)
        self.pickers = PortPickers(self.side, self.settings, self.bridge, self.banner, self.ports, ports,
                                   lambda: self.last_status.audio if self.last_status else None)
        self.ports.stopped.connect(self.status_bar.show_midi_system)  # e.g. the JACK server stopped
        self.ports.returned.connect(lambda _was: self.status_bar.show_midi_system(None))
        self.steering = Steering(self)  # presets, Key follows me, Answer now, the key on the keyboard

    def _connect(self) -> None:
        b, t, s = self.bridge, self.transport, self.side
        b.noteEvent.connect(self._on_note)
        b.status.connect(self._on_status)
        b.pedalEvent.connect(lambda r: self.roll.pedal(r.source, r.down, r.time_s))
        b.plan.connect(lambda r: self.roll.set_plan(r.notes))
        b.error.connect(self._on_error)
        b.warning.connect(lambda message: self.show_message(message, "warning"))
        b.engineChanged.connect(lambda _: (self._send_all(), self.pickers.send_all()))
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
        s.responseChanged.connect(self._on_response)
        s.controlsChanged.connect(lambda *_: self._send_controls())
        for source in (self.keyboard, self.qwerty):
            source.noteOn.connect(b.human_note_on)
            source.noteOff.connect(b.human_note_off)
        self.qwerty.layoutChanged.connect(self._on_qwerty_layout)

    def _restore(self) -> None:
        st = self.settings
        geometry = st.geometry
        if geometry is None or not self.restoreGeometry(geometry):
            self._default_geometry()
        self.refresh_models(st.model)
        self.side.set_soundfonts(self.services.soundfonts(), self.playing_soundfont())
        self.pickers.refresh([], [])  # the chosen ports show even when MIDI cannot be listed
        self.ports.refresh()
        self.side.set_response(st.response_gap_ms, st.response_length_s)
        self.side.set_steering(st.density, st.key, st.scale)  # all three read before any is shown
        self.transport.set_playing(True)  # ready at once: play and PerfJam answers
        self.transport.set_temperature(st.temperature)
        self.transport.set_mode(st.mode)
        self.side.set_mode(st.mode)
        self.steering.restore()
        self._send_all()

    def _default_geometry(self) -> None:
        screen = QApplication.primaryScreen().availableGeometry()
        self.resize(min(DEFAULT_SIZE[0], screen.width()), min(DEFAULT_SIZE[1], screen.height()))
        self.move(screen.center() - self.rect().center())

    def _send_all(self) -> None:
        """Tell a (new) engine everything the window shows."""
        self.bridge.set_playing(self.transport.play.isChecked())
        self.bridge.set_temperature(self.transport.temperature_value_f())
        self.bridge.set_mode(self.transport.mode())
        self.bridge.set_response(self.side.gap.value(), self.side.length.value())
        self._send_controls()
        self.steering.send_all()

    def reset_settings(self) -> None:
        """Forget every setting (File ▸ Reset settings): the controls go back to their defaults;
        the model, sound and ports play on for now but are not remembered."""
        self.settings.clear()
        self.transport.set_temperature(DEFAULT_TEMPERATURE)
        self.transport.set_mode("call")
        self.side.set_response(DEFAULT_GAP_MS, DEFAULT_LENGTH_S)
        self.side.set_steering(0, -1, self.settings.scale)
        self.steering.reset()
        self.qwerty.set_base(DEFAULT_BASE)
        self._send_controls()
        self._default_geometry()
        self.settings.clear()  # what the controls wrote back are the defaults anyway
        self.show_message("Settings reset: PerfJam will start as on its first day.", "info")

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
        wanted = self._soundfont_wanted
        if wanted is not None and same_file(self.services.playing_soundfont(), wanted):
            self.settings.soundfont, self._soundfont_wanted = wanted, None  # it plays: remember it
        self.pickers.news(s)
        self.steering.news(s)
        caption = CAPTIONS.get((s.state, s.mode), CAPTIONS.get((s.state, ""), ""))
        self.roll.set_caption(caption, CAPTION_COLOURS.get(s.state))

    def _on_error(self, message: str) -> None:
        model, font = self._model_wanted, self._soundfont_wanted
        if model is not None and Path(model).name in message:  # that model failed to load
            self._model_wanted = None
            self.settings.remove_recent_model(model)
            self.refresh_models(self.settings.model)  # back to the one still playing
            self.show_message(f"Could not open the model {Path(model).name}: PerfJam plays on with the "
                              "one before.", "error", message)
        elif font is not None and Path(font).name in message:  # that SoundFont failed to load
            self._soundfont_wanted = None
            playing = self.playing_soundfont()
            self.side.set_soundfonts(self.services.soundfonts(), playing)
            keeps = f"the sound stays {Path(playing).stem}" if playing else "the sound stays as it was"
            self.show_message(f"Could not use the SoundFont {Path(font).name}: {keeps}.", "error", message)
        else:
            self.show_message(message, "error")

    def refresh_models(self, current: str | None) -> None:
        """The model picker: shipped models, recently opened files and the current one."""
        st = self.settings
        names = [*self.services.models(), *st.recent_models, *([st.model] if st.model else [])]
        if current:
            names.append(current)
        described = {name: self.services.describe_model(name) for name in dict.fromkeys(names)}
        steerable = {name for name in described if self.services.model_steers(name)}
        self.side.set_models(names, current, described, steerable)

    def playing_soundfont(self) -> str | None:
        """The SoundFont the synth plays now (the remembered one when there is no synth)."""
        return self.services.playing_soundfont() or self.settings.soundfont

    def show_message(self, text: str, level: str = "error", details: str = "", key: str = "") -> None:
        self.banner.show_message(text, level, details, key)

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
                self.show_message(f"Cannot record into {folder}.", "error", str(exc))
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
        """Load in the engine; remembered once the synth plays it, forgotten if it fails."""
        self._soundfont_wanted = path
        self.bridge.set_soundfont(path)

    def _on_qwerty_layout(self) -> None:
        self.keyboard.set_key_labels(self.qwerty.labels())
        self.side.set_qwerty(self.qwerty.base, self.qwerty.velocity)
        self.settings.qwerty_octave = self.qwerty.base

    def panic(self) -> None:
        self.qwerty.release_all()
        self.takes.stop_playback()
        self.bridge.panic()
        self.roll.release_all()
        self.keyboard.clear()

    # ---- keys and closing ---------------------------------------------------------------------
    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        kind = event.type()
        if kind == QEvent.Type.ShortcutOverride and isinstance(event, QKeyEvent):
            spin = obj if isinstance(obj, QAbstractSpinBox) else getattr(obj, "parent", lambda: None)()
            if isinstance(spin, QAbstractSpinBox) and event.key() in EDIT_KEYS:
                event.accept()  # the focused box steps its value; the temperature stays
                return True
        if kind in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease):
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
        self.takes.stop_playback()  # before the synth it plays through closes
        self.bridge.shutdown()  # releases every note, finalises the recording
        if self._recording_path:
            self.files.take_finished(self._recording_path)
        self.settings.sync()
        super().closeEvent(event)
