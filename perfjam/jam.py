"""``perfjam jam``: the live engine without the GUI, until Ctrl-C.

    perfjam jam --midi-in NAME --midi-out NAME --mode call|duet|solo --temperature T \
        --model NAME --record FILE.mid [--midi-api jack|alsa]
        [--no-audio | --audio-driver NAME (repeatable) --jack-name NAME]

Without ``--midi-in`` a virtual input port "PerfJam In" is opened for a keyboard to connect to;
without ``--midi-out`` a virtual output "PerfJam Out". SIGINT / SIGTERM stop cleanly: every
note is released and the recording is finished. A one-line status (MIDI events in/out, model
step time, late notes, timing) is refreshed in place. Recordings interrupted by a crash are
recovered first.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from perfjam import midi_io
from perfjam.audio_drivers import add_audio_arguments, audio_settings
from perfjam.cli_options import MAX_TEMPERATURE, first_problem, seed_problem
from perfjam.engine import (
    MODES,
    VIRTUAL_INPUT,
    VIRTUAL_OUTPUT,
    Engine,
    EngineConfig,
    ErrorReport,
    MidiSettings,
    StatusReport,
)
from perfjam.follow import LOUDNESS
from perfjam.generation import PRIMER_MAX_S, PrimerError, load_primer
from perfjam.live.config import MAX_LOOKAHEAD_MS
from perfjam.model import DEFAULT_MODEL, ModelError, PerformanceModel
from perfjam.recorder import Recorder, RecordingError, recordings_dir
from perfjam.recovery import recover_all

MODE_NAMES = {**{mode: mode for mode in MODES}, "call-and-response": "call"}
# (option, low, high, low excluded): every number is checked before anything opens
JAM_RANGES = (("channel", 1, 16, False), ("temperature", 0.0, MAX_TEMPERATURE, False),
              ("top_p", 0.0, 1.0, True), ("lookahead_ms", 50.0, MAX_LOOKAHEAD_MS, False),
              ("gap_ms", 0.0, 60_000.0, False), ("length_s", 0.0, 3600.0, True),
              ("notes_per_s", 0.0, 100.0, False), ("speed", 0.0, 100.0, True), ("min_p", 0.0, 1.0, False),
              ("note_min_p", 0.0, 1.0, False), ("duet_density", 0.0, 4.0, False),
              ("answer_cc", 0, 127, False))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--midi-in", metavar="NAME",
                        help=f'input port (name, substring or index); default: a virtual port '
                        f'"{VIRTUAL_INPUT}"')
    parser.add_argument("--midi-out", metavar="NAME",
                        help=f'output port for the AI\'s notes; default: a virtual port "{VIRTUAL_OUTPUT}"')
    parser.add_argument("--no-midi-out", action="store_true", help="no MIDI output at all")
    parser.add_argument("--mode", default="call", choices=sorted(MODE_NAMES),
                        help="call (answers when you pause), duet (plays along), solo (default: call)")
    parser.add_argument("--temperature", type=float, default=EngineConfig.temperature,
                        help=f"sampling temperature (default {EngineConfig.temperature:g})")
    parser.add_argument("--top-p", type=float, default=None, help="nucleus sampling (default: off)")
    parser.add_argument("--min-p", type=float, default=EngineConfig.min_p,
                        help=f"min-p sampling, every event (default: {EngineConfig.min_p})")
    parser.add_argument("--note-min-p", type=float, default=EngineConfig.note_min_p,
                        help=f"min-p sampling among the note-ons only (default: {EngineConfig.note_min_p})")
    parser.add_argument("--model", default=DEFAULT_MODEL,
                        help=f"model name or .onnx path (default {DEFAULT_MODEL})")
    parser.add_argument("--record", type=Path, metavar="FILE.mid", help="record the session to a MIDI file")
    add_audio_arguments(parser)  # --audio-driver, --jack-name, --no-audio (as the window)
    parser.add_argument("--soundfont", type=Path, help="SoundFont for the synth (default: a GM piano)")
    parser.add_argument("--midi-api", choices=["auto", *midi_io.API_NAMES], default=None,
                        help="MIDI API (default: $PERFJAM_MIDI_API, else auto)")
    parser.add_argument("--channel", type=int, default=1,
                        help="MIDI channel of the AI's notes, 1-16 (default 1)")
    parser.add_argument("--thru", action="store_true",
                        help="also send your notes to the output (on the next channel)")
    parser.add_argument("--gap-ms", type=float, default=600.0, help="call: your silence before it answers")
    parser.add_argument("--length-s", type=float, default=6.0, help="call: the longest answer")
    parser.add_argument("--lookahead-ms", type=float, default=150.0, help="generation look-ahead")
    parser.add_argument("--primer", type=Path,
                        help=f"solo: a MIDI file to continue (its last {PRIMER_MAX_S:g} s)")
    parser.add_argument("--notes-per-s", type=float,
                        help="note density control (conditioned models; default: follow yours)")
    parser.add_argument("--no-follow-density", dest="follow_density", action="store_false",
                        help="do not play as densely as you (conditioned models)")
    parser.add_argument("--no-follow-key", dest="follow_key", action="store_false",
                        help="do not play in the key you play in (conditioned models)")
    parser.add_argument("--loudness", choices=LOUDNESS, default=EngineConfig.loudness,
                        help="how loud the AI plays: softer, as you, louder, or the model's own "
                             f"(default: {EngineConfig.loudness})")
    parser.add_argument("--duet-density", type=float, default=EngineConfig.duet_density,
                        help="duet: the AI's density as a fraction of yours "
                             f"(default {EngineConfig.duet_density:g})")
    parser.add_argument("--answer-cc", type=int, metavar="CC",
                        help="call: this MIDI controller (a foot switch) answers now (default: none)")
    parser.add_argument("--seed", type=int, help="sampling seed")
    parser.add_argument("--speed", type=float, default=1.0, help=argparse.SUPPRESS)  # accelerated tests


def status_line(s: StatusReport) -> str:
    ports = f"in {s.midi_in or '-'} ({s.midi_in_state}) out {s.midi_out or '-'} ({s.midi_out_state})"
    line = (f"[{s.mode} {s.state}] T={s.temperature:.2f} events in {s.events_in} out {s.events_out} | "
            f"step {s.step_ms_p50:.2f}/{s.step_ms_p99:.2f} ms | late {s.late_notes} | "
            f"timing p99 {s.timing_error_ms_p99:.2f} ms | thru p99 {s.thru_latency_ms_p99:.2f} ms | {ports}")
    if s.recording_path:
        minutes, seconds = divmod(int(s.recording_elapsed_s), 60)
        line += f" | rec {minutes:02d}:{seconds:02d}"
    return line


def run(args: argparse.Namespace) -> int:
    problem = first_problem(args, JAM_RANGES) or seed_problem(args.seed)
    if problem:
        print(f"perfjam jam: {problem}", file=sys.stderr)
        return 2
    folders = {recordings_dir().expanduser().absolute()}
    if args.record:
        folders.add(args.record.expanduser().absolute().parent)
    for folder in sorted(folders):
        recovery = recover_all(folder)
        for path in recovery.written:
            print(f"recovered an interrupted recording: {path}", file=sys.stderr)
        for line in recovery.failed:
            print(f"warning: {line}", file=sys.stderr)
    try:
        model = PerformanceModel.load(args.model)
        model.warm_up()  # a model that cannot play (e.g. NaN weights) is refused here, not at start
    except ModelError as exc:
        print(f"perfjam jam: {exc}", file=sys.stderr)
        return 2
    primer = None
    if args.primer is not None:  # read once and refused here, before any port or sound is opened
        try:
            primer = load_primer(args.primer, model.info.vocab)
        except PrimerError as exc:
            print(f"perfjam jam: {exc}", file=sys.stderr)
            return 2
        # (what was cut is reported by the engine, once)
    synth = None
    if not args.no_audio:
        from perfjam.synth import Synth, SynthConfig, SynthError

        try:
            synth = Synth(SynthConfig(soundfont=args.soundfont, **audio_settings(args)))
        except SynthError as exc:
            print(f"perfjam jam: {exc}", file=sys.stderr)
            return 2
        if not synth.start():
            print("perfjam jam: no audio output could be opened; continuing with MIDI only", file=sys.stderr)
    try:
        config = EngineConfig(mode=MODE_NAMES[args.mode], temperature=args.temperature, top_p=args.top_p,
                              min_p=args.min_p, note_min_p=args.note_min_p, gap_ms=args.gap_ms,
                              response_length_s=args.length_s,
                              lookahead_ms=args.lookahead_ms, primer=primer, notes_per_s=args.notes_per_s,
                              follow_density=args.follow_density, follow_key=args.follow_key,
                              loudness=args.loudness, duet_density=args.duet_density,
                              answer_cc=args.answer_cc, seed=args.seed, speed=args.speed)
    except ValueError as exc:
        print(f"perfjam jam: {exc}", file=sys.stderr)
        return 2
    midi = MidiSettings(
        api=args.midi_api, input_name=args.midi_in or VIRTUAL_INPUT, input_virtual=args.midi_in is None,
        output_name=None if args.no_midi_out else (args.midi_out or VIRTUAL_OUTPUT),
        output_virtual=args.midi_out is None, out_channel=args.channel - 1, thru=args.thru,
        thru_channel=args.channel % 16,
    )
    engine = Engine(model, config, synth=synth, midi=midi)
    from perfjam.live.realtime import raise_priority
    from perfjam.midi_io import MidiError

    recorder = None
    try:
        if args.record:  # refused now, not after a session that wrote nothing
            recorder = Recorder(args.record.expanduser().absolute(), speed=args.speed)
            recorder.open()
        engine.start()
    except (MidiError, RecordingError) as exc:
        print(f"perfjam jam: {exc}", file=sys.stderr)
        if recorder is not None:
            recorder.abandon()
        if synth is not None:
            synth.close()
        return 2
    if recorder is not None:
        engine.start_recording(recorder)
    # This thread touches the GIL 5 times a second; preempted while holding it, it would hold
    # the engine thread up: it gets the engine's priority (see docs/ARCHITECTURE.md).
    raise_priority(config.realtime_priority)
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    tty = sys.stdout.isatty()
    last_line, printed = "", 0.0
    try:
        while not stop.wait(0.2) and engine.running:
            last_line, printed = _show_reports(engine, last_line, printed, tty)
    finally:
        engine.stop()
        _show_reports(engine, last_line, 0.0, tty, final=True)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if synth is not None:
            synth.close()
    return 0 if recorder is None else _report_take(recorder)


def _report_take(recorder: Recorder) -> int:
    """``recording: PATH`` and 0 when the take was written, else one line saying why and 1."""
    if recorder.result is not None:
        print(f"recording: {recorder.result}")
        return 0
    reason = recorder.error or "it was still being finished when the engine stopped"
    print(f"perfjam jam: the take was not written: {reason}", file=sys.stderr)
    return 1


def _show_reports(engine: Engine, last_line: str, printed: float, tty: bool, final: bool = False):
    import time

    status = None
    for report in engine.drain_reports():
        if isinstance(report, StatusReport):
            status = report
        elif isinstance(report, ErrorReport):
            print(("\n" if tty else "") + f"{report.level}: {report.message}", file=sys.stderr, flush=True)
    if status is not None:
        last_line = status_line(status)
    now = time.monotonic()
    if tty:
        print("\r\x1b[K" + last_line, end="\n" if final else "", flush=True)
    elif last_line and (final or now - printed >= 2.0):
        print(last_line, flush=True)
        printed = now
    return last_line, printed
