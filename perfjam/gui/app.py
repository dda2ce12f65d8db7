"""``perfjam`` / ``perfjam app``: open the PerfJam window on the live engine.

Start-up never fails for a missing piece: a model, SoundFont or port that cannot be had falls back
(shipped model, system SoundFont, no port, no audio) and the window says so in a message that
tells a musician what to do, the technical reason behind its Details button.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from perfjam.audio_drivers import ENV_AUDIO_DRIVERS, add_audio_arguments, audio_settings, preferred_first
from perfjam.engine import MODES, VIRTUAL_INPUT
from perfjam.gui import theme
from perfjam.gui.bridge import EngineBridge
from perfjam.gui.files import same_file
from perfjam.gui.messages import Message
from perfjam.gui.ports import NO_MIDI
from perfjam.gui.settings import MAX_TEMPERATURE, MIN_TEMPERATURE, Settings
from perfjam.gui.window import MainWindow, Services
from perfjam.midi_io import API_NAMES

Messages = list[Message]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", help="model name or .onnx file (default: the last one used)")
    parser.add_argument("--soundfont", help="SoundFont .sf2 (default: the last one used, else found)")
    parser.add_argument("--midi-in", metavar="PORT", help="MIDI input port (its name or a unique part of it)")
    parser.add_argument("--midi-out", metavar="PORT", help="MIDI output port")
    parser.add_argument("--midi-api", choices=["auto", *API_NAMES],
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


def _label(name_or_path: str) -> str:
    return Path(name_or_path).name if "/" in name_or_path else name_or_path


def load_model(wanted: str | None, messages: Messages) -> tuple[Any, bool]:
    """(the wanted model, else the default shipped one, else any shipped one, else None; whether
    it is the wanted one)."""
    from perfjam.model import DEFAULT_MODEL, ModelError, PerformanceModel, shipped_models

    candidates = [c for c in dict.fromkeys([wanted, DEFAULT_MODEL, *shipped_models()]) if c]
    failed = ""
    for candidate in candidates:
        try:
            model = PerformanceModel.load(candidate)
        except ModelError as exc:
            if candidate == wanted:
                failed = str(exc)
            continue
        if wanted and candidate != wanted:
            messages.append(Message(f"Could not open the model {_label(wanted)}: playing with "
                                    f"{model.info.name} instead.", "warning", failed))
        return model, candidate == wanted
    text = f"Could not open the model {_label(wanted)}. " if wanted else ""
    messages.append(Message(text + "No model found: choose one with File ▸ Open model.", "error", failed))
    return None, False


def make_synth(soundfont: str | None, drivers: tuple[str, ...] | None, messages: Messages,
               client_name: str | None = None) -> Any:
    """A started Synth (with audio when a driver works), or None when FluidSynth is unusable.
    ``drivers`` None: the usual choice (``perfjam.audio_drivers.audio_drivers``)."""
    from perfjam.audio_drivers import DEFAULT_JACK_NAME, audio_drivers
    from perfjam.synth import FluidSynthMissing, Synth, SynthConfig, SynthError, audio_failure_details

    drivers = audio_drivers() if drivers is None else drivers
    failed = ""
    for font in dict.fromkeys([soundfont, None]):
        try:
            synth = Synth(SynthConfig(soundfont=font, audio_drivers=drivers,
                                      client_name=client_name or DEFAULT_JACK_NAME))
        except FluidSynthMissing as exc:  # its message says what to install
            messages.append(Message(f"{exc} MIDI out still works.", "error", exc.details))
            return None
        except SynthError as exc:
            if font is not None:
                failed = str(exc)
                continue
            messages.append(Message("No SoundFont could be loaded, so PerfJam makes no sound; MIDI out "
                                    "still works. Install one (fluid-soundfont-gm) or open a .sf2 file.",
                                    "error", "\n".join(filter(None, (failed, str(exc))))))
            return None
        except Exception as exc:  # FluidSynth itself missing or broken: play on without sound
            messages.append(Message("No sound: the FluidSynth synthesizer is missing or broken. MIDI out "
                                    "still works.", "error", str(exc)))
            return None
        if failed:
            messages.append(Message(f"Could not use the SoundFont {Path(str(soundfont)).name}: playing "
                                    f"with {Path(synth.soundfont_path).stem} instead.", "warning", failed))
        if drivers and not synth.start():
            tried = ", ".join(drivers)
            details = [f"FluidSynth found no working audio driver (tried: {tried})", *audio_failure_details()]
            messages.append(Message("No audio output found, so PerfJam plays silently; MIDI out still works.",
                                    "warning", "\n".join(details)))
        return synth
    return None


def check_ports(api: str | None, wanted_in: str | None, wanted_out: str | None,
                messages: Messages) -> tuple[tuple[str | None, str | None], tuple[bool, bool]]:
    """((input, output) by their full names, whether each was found). One that is missing now is
    kept (the engine opens it when it appears) with a message; with no usable MIDI API at all
    both are kept as they were asked for."""
    from perfjam.midi_io import MidiError, find_port, list_ports

    if not (wanted_in or wanted_out):
        return (None, None), (False, False)
    try:
        inputs, outputs = list_ports(api)
    except MidiError as exc:  # kept: opened once the MIDI system is there (gui.ports)
        messages.append(Message(NO_MIDI, "warning", str(exc), "midi-system"))
        return (wanted_in, wanted_out), (False, False)
    names: list[str | None] = []
    found: list[bool] = []
    for kind, wanted, ports in (("input", wanted_in, inputs), ("output", wanted_out, outputs)):
        name, ok = wanted, False
        if wanted:
            try:
                name, ok = ports[find_port(ports, wanted, kind)], True
            except MidiError as exc:
                messages.append(Message(f"Your MIDI {kind} {wanted!r} is not connected: PerfJam connects it "
                                        "when it appears.", "warning", str(exc), f"midi-{kind}"))
        names.append(name)
        found.append(ok)
    return (names[0], names[1]), (found[0], found[1])


def describe(info: Any) -> str:
    """One line about a model from its metadata (``perfjam.model.ModelInfo``)."""
    sound = "with dynamics" if info.vocab.dynamics else "fixed velocity"
    if info.has_controls:
        layout = info.control_layout or {}
        names = (("density_one_hot", "density"), ("pitch_class_histogram", "key"))
        parts = [word for key, word in names if key in layout]
        steer = f"steers by {' + '.join(parts)}" if parts else "steerable"
    else:
        steer = "not steerable"
    return f"{info.vocab.size} events, {sound} · {steer} · LSTM {info.layers}×{info.hidden}"


@functools.lru_cache(maxsize=64)
def model_info(name_or_path: str) -> Any:
    """A model's metadata (``perfjam.model.ModelInfo``) read from its file (a few ms;
    remembered), or None when it cannot be opened."""
    from perfjam.model import ModelError, PerformanceModel

    try:
        return PerformanceModel.load(name_or_path).info
    except (ModelError, OSError, ValueError):
        return None


def describe_model(name_or_path: str) -> str:
    """One line about a model, read from its file."""
    info = model_info(name_or_path)
    return describe(info) if info is not None else "cannot be opened"


def model_steers(name_or_path: str) -> bool:
    """Whether density and key steer the model (it was trained with controls)."""
    info = model_info(name_or_path)
    return bool(info is not None and info.has_controls)


def soundfont_choices(current: str | None, folders: Iterable[str | Path] | None = None) -> list[str]:
    """The SoundFonts to choose from: those in the system folders (``folders``), PerfJam's own and
    ``current``, each file once (a symlink to a listed file is that file)."""
    from perfjam.synth import SHIPPED_SOUNDFONT, SYSTEM_SOUNDFONT_DIRS

    found = [Path(folder).expanduser() for folder in (SYSTEM_SOUNDFONT_DIRS if folders is None else folders)]
    candidates = [str(p) for folder in found for p in sorted(folder.glob("*.sf2")) if p.is_file()]
    if SHIPPED_SOUNDFONT.is_file():
        candidates.append(str(SHIPPED_SOUNDFONT))
    if current:
        candidates.append(current)
    paths: list[str] = []
    for path in candidates:
        if not any(same_file(path, listed) for listed in paths):
            paths.append(path)
    return paths


def recover_recordings(folder: Path, messages: Messages) -> None:
    """Rebuild takes that a crash interrupted (their journals are still in the folder)."""
    try:
        from perfjam.recovery import recover_all

        recovery = recover_all(folder)
    except Exception as exc:  # recovery must never stop the app from opening
        messages.append(Message("Could not recover the takes a crash interrupted; their journals stay in "
                                f"{folder}.", "warning", str(exc)))
        return
    for path in recovery.written:
        messages.append(Message(f"Recovered an interrupted recording: {path}", "info"))
    if recovery.failed:
        count = len(recovery.failed)
        messages.append(Message(f"Could not recover {count} interrupted take(s); their journals stay in "
                                f"{folder}.", "warning", "\n".join(recovery.failed)))


def recordings_folder(given: Path | None = None) -> Path:
    from perfjam.recorder import recordings_dir

    return given.expanduser() if given is not None else recordings_dir()


class QuitSignals:
    """Ctrl+C or SIGTERM closes the window as its close button does (recording finalised, notes
    released), from the moment PerfJam starts: one that comes while the window is still being
    built (the engine may already play) is kept and closes the window once it is there, where
    Python's default action would have killed the process with the AI's notes sounding. Python
    only runs signal handlers between bytecodes, so a timer wakes it up."""

    def __init__(self) -> None:
        import signal

        self.window: Any = None
        self.requested = False
        self.timer: Any = None
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._handler)

    def _handler(self, *_: object) -> None:
        self.requested = True
        if self.window is not None:
            from PySide6.QtCore import QTimer

            QTimer.singleShot(0, self.window.close)

    def attach(self, window: Any) -> None:
        from PySide6.QtCore import QTimer

        self.window = window
        self.timer = QTimer(window)
        self.timer.timeout.connect(lambda: None)
        self.timer.start(200)
        if self.requested:  # asked while starting
            QTimer.singleShot(0, window.close)


def build_engine(model: Any, startup: Startup, settings: Settings) -> Any:
    """Create and start the engine; without its MIDI ports if the MIDI API cannot be opened."""
    from perfjam.engine import Engine, EngineConfig, MidiSettings
    from perfjam.midi_io import MidiError

    config = EngineConfig(
        mode=settings.mode, temperature=settings.temperature,
        gap_ms=settings.response_gap_ms, response_length_s=settings.response_length_s,
        follow_key=settings.follow_key, loudness=settings.loudness, answer_cc=settings.answer_cc,
        seed=settings.seed,
    )
    channels = MidiSettings(api=startup.api, out_channel=settings.out_channel - 1, thru=settings.midi_thru,
                            thru_channel=settings.thru_channel - 1)
    # with no keyboard chosen, PerfJam's own virtual input is open for others to play into
    midi = dataclasses.replace(channels, input_name=startup.midi_in or VIRTUAL_INPUT,
                               input_virtual=startup.midi_in is None, output_name=startup.midi_out)
    engine = Engine(model, config, synth=startup.synth, midi=midi)
    try:
        engine.start()
    except MidiError as exc:  # the ports are opened once the MIDI system is there (gui.ports)
        startup.messages.append(Message(NO_MIDI, "warning", str(exc), "midi-system"))
        engine = Engine(model, config, synth=startup.synth, midi=channels)
        engine.start()
    return engine


def prepare(args: argparse.Namespace, settings: Settings) -> Startup:
    """Everything but the window: model, synth, ports. Command-line arguments win over saved
    settings for this session, and are saved only once they worked (a mistyped --model or
    --midi-in is not remembered); a remembered model or SoundFont that no longer loads is forgotten."""
    for key in ("midi_api", "mode", "temperature"):  # argparse has checked these already
        value = getattr(args, key, None)
        if value is not None:
            setattr(settings, key, value)
    st = Startup(api=settings.midi_api)
    if getattr(args, "recordings", None) is not None:
        from perfjam.recorder import ENV_RECORDINGS

        # the recorder's own default (and its crash-recovery pointers) follow the chosen folder
        os.environ[ENV_RECORDINGS] = str(args.recordings.expanduser())
    recover_recordings(recordings_folder(getattr(args, "recordings", None)), st.messages)

    given_model = getattr(args, "model", None)
    st.model, model_ok = load_model(given_model or settings.model, st.messages)
    if model_ok and given_model:
        settings.model = given_model
    elif not model_ok and not given_model and settings.model:
        settings.model = None  # the remembered one is gone: do not warn at every start

    given_font = getattr(args, "soundfont", None)
    font = given_font or settings.soundfont
    audio = audio_settings(args)
    chosen = getattr(args, "audio_driver", None) or getattr(args, "no_audio", False)
    if not chosen and not os.environ.get(ENV_AUDIO_DRIVERS):  # the Audio & MIDI settings' driver
        audio["audio_drivers"] = preferred_first(settings.audio_driver)
    st.synth = make_synth(font, audio["audio_drivers"], st.messages, audio["client_name"])
    if st.synth is not None and font:
        if same_file(st.synth.soundfont_path, font):
            if given_font:
                settings.soundfont = given_font
        elif not given_font:
            settings.soundfont = None

    given = (getattr(args, "midi_in", None), getattr(args, "midi_out", None))
    wanted = (given[0] or settings.midi_input, given[1] or settings.midi_output)
    (st.midi_in, st.midi_out), found = check_ports(st.api, wanted[0], wanted[1], st.messages)
    if given[0] and found[0]:
        settings.midi_input = st.midi_in
    if given[1] and found[1]:
        settings.midi_output = st.midi_out
    return st


def create_window(
    args: argparse.Namespace, settings: Settings, services: Services | None = None
) -> MainWindow:
    """The window on a started engine (or on none, until a model is chosen); ``window.startup``
    holds what start-up got (the synth is the caller's to close after the window). With a synth,
    ``services.playing_soundfont`` is always the synth's: the window shows and exports with it."""
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
            describe_model=describe_model,
            model_steers=model_steers,
        )
    if st.synth is not None:  # the SoundFont the synth plays (a fallback, maybe) is what shows
        synth = st.synth
        services = dataclasses.replace(services, playing_soundfont=lambda: str(synth.soundfont_path))
    bridge = EngineBridge(engine, engine_factory=factory)
    window = MainWindow(bridge, settings, services, tuple(st.messages), ports=(st.midi_in, st.midi_out))
    window.startup = st
    if engine is None:  # until a model is chosen there are no status reports: say what is known
        window.status_bar.show_audio(st.synth.audio_status if st.synth is not None else None)
    return window


def run(args: argparse.Namespace) -> int:
    from PySide6.QtWidgets import QApplication

    import perfjam.synth  # noqa: F401  (loads FluidSynth and its libjack, when there is one)
    from perfjam.gui.identity import DESKTOP_ID, identify
    from perfjam.midi_io import jack_log

    quit_signals = QuitSignals()  # before anything plays
    jack_log.install()  # JACK's messages (e.g. five lines per try while no server runs) are kept, not printed
    app = QApplication.instance() or QApplication([DESKTOP_ID])
    identify(app)
    theme.apply(app)
    window = create_window(args, Settings(args.settings))
    window.show()
    quit_signals.attach(window)
    if args.record:
        window.transport.record.setChecked(True)
    try:
        code = app.exec()
    finally:
        window.bridge.shutdown()  # a no-op when the window's close already stopped the engine
        if window.startup.synth is not None:
            window.startup.synth.close()
    return int(code)
