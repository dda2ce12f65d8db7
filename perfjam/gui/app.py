"""``perfjam`` / ``perfjam app``: open the PerfJam window on the live engine.

Start-up never fails for a missing piece: a model, SoundFont or port that cannot be had falls back
(shipped model, system SoundFont, no port, no audio) and the window says so in a message.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from perfjam.audio_drivers import add_audio_arguments, audio_settings
from perfjam.gui import theme
from perfjam.gui.bridge import EngineBridge
from perfjam.gui.settings import MAX_TEMPERATURE, MIN_TEMPERATURE, MODES, Settings
from perfjam.gui.window import MainWindow, Services

Messages = list[tuple[str, str]]  # (text, "error" | "warning" | "info")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", help="model name or .onnx file (default: the last one used)")
    parser.add_argument("--soundfont", help="SoundFont .sf2 (default: the last one used, else found)")
    parser.add_argument("--midi-in", metavar="PORT", help="MIDI input port (its name or a unique part of it)")
    parser.add_argument("--midi-out", metavar="PORT", help="MIDI output port")
    parser.add_argument("--midi-api", choices=["auto", "alsa", "jack", "coremidi", "winmm"],
                        help="MIDI API (default: $PERFJAM_MIDI_API, else auto)")
    add_audio_arguments(parser)  # --audio-driver, --jack-name, --no-audio (as `perfjam jam`)
    parser.add_argument("--mode", choices=MODES, help="call (call-and-response), duet or solo")
    parser.add_argument("--temperature", type=float, help=f"{MIN_TEMPERATURE}..{MAX_TEMPERATURE}")
    parser.add_argument("--settings", type=Path, metavar="FILE.ini",
                        help="keep settings in this file instead of the user's PerfJam settings")
    parser.add_argument("--recordings", type=Path, metavar="DIR", help="folder for recorded takes")
    parser.add_argument("--record", action="store_true", help="start recording at once (as pressing R)")


@dataclass
class Startup:
    """What start-up managed to get, and what it has to tell the user."""

    model: Any = None
    synth: Any = None
    midi_in: str | None = None
    midi_out: str | None = None
    api: str | None = None
    messages: Messages = field(default_factory=list)


def load_model(wanted: str | None, messages: Messages) -> Any:
    """The wanted model, else the default shipped one, else any shipped one, else None."""
    from perfjam.model import DEFAULT_MODEL, ModelError, PerformanceModel, shipped_models

    candidates = [c for c in dict.fromkeys([wanted, DEFAULT_MODEL, *shipped_models()]) if c]
    for candidate in candidates:
        try:
            model = PerformanceModel.load(candidate)
        except ModelError as exc:
            if candidate == wanted:
                messages.append((f"Could not load model: {exc}", "error"))
            continue
        if wanted and candidate != wanted:
            messages.append((f"Using model {model.info.name} instead.", "warning"))
        return model
    messages.append(("No model found: choose one with File ▸ Open model.", "error"))
    return None


def make_synth(soundfont: str | None, drivers: tuple[str, ...] | None, messages: Messages,
               client_name: str | None = None) -> Any:
    """A started Synth (with audio when a driver works), or None when FluidSynth is unusable.
    ``drivers`` None: the usual choice (``perfjam.audio_drivers.audio_drivers``)."""
    from perfjam.audio_drivers import DEFAULT_JACK_NAME, audio_drivers
    from perfjam.synth import Synth, SynthConfig, SynthError

    drivers = audio_drivers() if drivers is None else drivers
    for font in dict.fromkeys([soundfont, None]):
        try:
            synth = Synth(SynthConfig(soundfont=font, audio_drivers=drivers,
                                      client_name=client_name or DEFAULT_JACK_NAME))
        except SynthError as exc:
            messages.append((f"SoundFont problem: {exc}", "error" if font is None else "warning"))
            continue
        except Exception as exc:  # FluidSynth itself missing or broken: play on without sound
            messages.append((f"FluidSynth is unavailable ({exc}); no sound, MIDI out still works.", "error"))
            return None
        if drivers and not synth.start():
            messages.append(("No audio output: FluidSynth found no working audio driver. "
                             "MIDI out still works.", "warning"))
        return synth
    return None


def check_ports(api: str | None, wanted_in: str | None, wanted_out: str | None,
                messages: Messages) -> tuple[str | None, str | None]:
    """The wanted ports by their full names. One that is missing now is kept (the engine opens it
    when it appears) with a message; with no usable MIDI API at all there are no ports."""
    from perfjam.midi_io import MidiError, find_port, list_ports

    if not (wanted_in or wanted_out):
        return None, None
    try:
        inputs, outputs = list_ports(api)
    except MidiError as exc:
        messages.append((f"MIDI is unavailable ({exc}); the computer keyboard still plays.", "warning"))
        return None, None
    found: list[str | None] = []
    for kind, wanted, ports in (("input", wanted_in, inputs), ("output", wanted_out, outputs)):
        name = wanted
        if wanted:
            try:
                name = ports[find_port(ports, wanted, kind)]
            except MidiError:
                messages.append((f"MIDI {kind} {wanted!r} is not connected; it will connect when it "
                                 "appears.", "warning"))
        found.append(name)
    return found[0], found[1]


def soundfont_choices(current: str | None) -> list[str]:
    from perfjam.synth import SHIPPED_SOUNDFONT, SYSTEM_SOUNDFONT_DIRS

    folders = [Path(folder).expanduser() for folder in SYSTEM_SOUNDFONT_DIRS]
    paths = [str(p) for folder in folders for p in sorted(folder.glob("*.sf2"))]
    if SHIPPED_SOUNDFONT.is_file():
        paths.append(str(SHIPPED_SOUNDFONT))
    if current and current not in paths:
        paths.append(current)
    return paths


def recover_recordings(folder: Path, messages: Messages) -> None:
    """Rebuild takes that a crash interrupted (their journals are still in the folder)."""
    try:
        from perfjam.recorder import Recorder

        recovered = Recorder.recover_all(folder)
    except Exception as exc:  # recovery must never stop the app from opening
        messages.append((f"Could not recover interrupted recordings: {exc}", "warning"))
        return
    for path in recovered:
        messages.append((f"Recovered an interrupted recording: {path}", "info"))


def recordings_folder(given: Path | None = None) -> Path:
    from perfjam.recorder import recordings_dir

    return given.expanduser() if given is not None else recordings_dir()


def close_on_signals(window: Any) -> Any:
    """Ctrl+C or SIGTERM closes the window as its close button does (recording finalised, notes
    released). Python only runs signal handlers between bytecodes, so a timer wakes it up."""
    import signal

    from PySide6.QtCore import QTimer

    def handler(*_: object) -> None:
        QTimer.singleShot(0, window.close)

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, handler)
    timer = QTimer(window)
    timer.timeout.connect(lambda: None)
    timer.start(200)
    return timer


def build_engine(model: Any, startup: Startup, settings: Settings) -> Any:
    """Create and start the engine; without its MIDI ports if the MIDI API cannot be opened."""
    from perfjam.engine import Engine, EngineConfig, MidiSettings
    from perfjam.midi_io import MidiError

    config = EngineConfig(
        mode=settings.mode, temperature=settings.temperature,
        gap_ms=settings.response_gap_ms, response_length_s=settings.response_length_s,
    )
    midi = MidiSettings(api=startup.api, input_name=startup.midi_in, output_name=startup.midi_out)
    engine = Engine(model, config, synth=startup.synth, midi=midi)
    try:
        engine.start()
    except MidiError as exc:
        startup.messages.append((f"MIDI is unavailable ({exc}); the computer keyboard plays.", "warning"))
        startup.midi_in = startup.midi_out = None
        engine = Engine(model, config, synth=startup.synth, midi=MidiSettings(api=startup.api))
        engine.start()
    return engine


def prepare(args: argparse.Namespace, settings: Settings) -> Startup:
    """Everything but the window: model, synth, ports (CLI arguments win over saved settings)."""
    for key in ("model", "soundfont", "midi_api", "mode", "temperature"):
        value = getattr(args, key, None)
        if value is not None:
            setattr(settings, key, value)
    if getattr(args, "midi_in", None):
        settings.midi_input = args.midi_in
    if getattr(args, "midi_out", None):
        settings.midi_output = args.midi_out
    st = Startup(api=settings.midi_api)
    if getattr(args, "recordings", None) is not None:
        from perfjam.recorder import ENV_RECORDINGS

        # the recorder's own default (and its crash-recovery pointers) follow the chosen folder
        os.environ[ENV_RECORDINGS] = str(args.recordings.expanduser())
    recover_recordings(recordings_folder(getattr(args, "recordings", None)), st.messages)
    st.model = load_model(settings.model, st.messages)
    audio = audio_settings(args)
    st.synth = make_synth(settings.soundfont, audio["audio_drivers"], st.messages, audio["client_name"])
    st.midi_in, st.midi_out = check_ports(st.api, settings.midi_input, settings.midi_output, st.messages)
    return st


def create_window(
    args: argparse.Namespace, settings: Settings, services: Services | None = None
) -> MainWindow:
    """The window on a started engine (or on none, until a model is chosen); ``window.startup``
    holds what start-up got (the synth is the caller's to close after the window)."""
    st = prepare(args, settings)
    engine = build_engine(st.model, st, settings) if st.model is not None else None

    def factory(name_or_path: str) -> Any:
        from perfjam.model import PerformanceModel

        return build_engine(PerformanceModel.load(name_or_path), st, settings)

    if services is None:
        from perfjam.gui.ports import PersistentLister
        from perfjam.model import shipped_models

        services = Services(
            list_ports=PersistentLister(st.api),
            models=shipped_models,
            soundfonts=lambda: soundfont_choices(settings.soundfont),
            recordings_dir=recordings_folder(getattr(args, "recordings", None)),
        )
    bridge = EngineBridge(engine, engine_factory=factory)
    window = MainWindow(bridge, settings, services, tuple(st.messages))
    window.startup = st
    if st.synth is not None:  # show the SoundFont actually loaded (a fallback, maybe)
        window.side.set_soundfonts(services.soundfonts(), str(st.synth.soundfont_path))
    if engine is None:  # until a model is chosen there are no status reports: say what is known
        window.status_bar.show_audio(st.synth.audio_status if st.synth is not None else None)
    return window


def run(args: argparse.Namespace) -> int:
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([sys.argv[0]])
    app.setApplicationName("PerfJam")
    app.setOrganizationName("PerfJam")
    theme.apply(app)
    window = create_window(args, Settings(args.settings))
    window.show()
    close_on_signals(window)
    if args.record:
        window.transport.record.setChecked(True)
    try:
        code = app.exec()
    finally:
        window.bridge.shutdown()  # a no-op when the window's close already stopped the engine
        if window.startup.synth is not None:
            window.startup.synth.close()
    return int(code)
