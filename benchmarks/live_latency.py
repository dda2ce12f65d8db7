"""Live latency of the engine on real JACK MIDI ports, printed as JSON.

    python benchmarks/live_latency.py [--model NAME|PATH | --synthetic 2x256] [--mode duet]
        [--music-minutes 10] [--speed 5] [--conditions idle,loaded] [--out FILE.json]

A player process plays a human part into the engine's input port (phrases of single notes and
chords, about 6 notes/s of music time) and listens on its output port; the engine runs here
with FluidSynth rendering through JACK. The session runs ``--speed`` times faster than real
time ("accelerated"): ``--music-minutes`` of music in ``music-minutes / speed`` minutes. It
runs once per condition: "idle" and "loaded" (another process keeps one core busy).

Reported per condition (milliseconds, whole run):
* ``added_latency_ms``: human MIDI message arrival (the rtmidi callback's perf_counter stamp)
  to the synth note-on/off call (p50/p99/max);
* ``ai_timing_error_ms``: an AI note's send time minus its scheduled time (p50/p99/max);
* ``late_notes``: AI notes sent more than 1 ms after their time; ``steps_per_s``: model
  steps per second sustained; ``model_step_ms``;
* ``player.thru_round_trip_ms``: for reference, the player's note to its echo (MIDI thru) back
  from the engine, through JACK twice (each hop waits up to one JACK period, 2.7 ms here).
Targets: added latency p99 <= 2 ms, AI timing error p99 <= 1 ms, no late notes.

Without a shipped model, ``--synthetic LxH`` exports a random LSTM of that size whose read-out
bias makes it play densely (about 30 notes/s, 75 events/s): a heavy load (needs torch).
Also the shared helpers of ``benchmarks/soak.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

THRU_CHANNEL = 1  # the engine echoes the player's notes here (MidiSettings.thru)
TARGETS = {"added_latency_p99_ms": 2.0, "ai_timing_error_p99_ms": 1.0, "late_notes": 0}


# --- JACK, load, models ------------------------------------------------------------------------
@contextmanager
def jack_server(realtime: bool = True):
    """The JACK server in $JACK_DEFAULT_SERVER if it answers, else a private dummy one: real-time
    (-R -P 70, as a desktop audio setup runs it) when allowed, else --no-realtime. Yields
    (name, how)."""
    env = {**os.environ, "JACK_NO_START_SERVER": "1"}
    if os.environ.get("JACK_DEFAULT_SERVER") and _answers(env):
        yield os.environ["JACK_DEFAULT_SERVER"], "existing"
        return
    name = f"perfjam-bench-{os.getpid()}"
    modes = (["-R", "-P", "70"], ["--no-realtime"]) if realtime else (["--no-realtime"],)
    for flags in modes:
        log = tempfile.NamedTemporaryFile(prefix="jackd-", suffix=".log", delete=False)  # noqa: SIM115
        proc = subprocess.Popen(["jackd", *flags, "-n", name, "-d", "dummy", "-r", "48000", "-p", "128"],
                                stdout=log, stderr=subprocess.STDOUT,
                                env={**env, "JACK_NO_AUDIO_RESERVATION": "1"})
        env["JACK_DEFAULT_SERVER"] = name
        deadline = time.monotonic() + 10
        while not _answers(env) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        if proc.poll() is None and _answers(env):
            break
        proc.kill()
        proc.wait()
    else:
        raise RuntimeError(f"jackd did not start: {Path(log.name).read_text()}")
    try:
        os.environ["JACK_DEFAULT_SERVER"], os.environ["JACK_NO_START_SERVER"] = name, "1"
        yield name, "realtime (-R -P 70)" if flags[0] == "-R" else "--no-realtime"
    finally:
        proc.terminate()
        proc.wait(10)


def _answers(env) -> bool:
    try:
        return subprocess.run(["jack_lsp"], env=env, capture_output=True, timeout=5).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@contextmanager
def core_loaded(loaded: bool):
    """Another process keeping one core busy (a pure-Python spin loop) while in the block."""
    if not loaded:
        yield
        return
    burner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)
        yield
    finally:
        burner.kill()
        burner.wait()


def synthetic_model(spec: str, folder: Path) -> Path:
    """A random LxH LSTM (embedding H/4) biased to play densely, exported like a shipped model."""
    import torch

    from training import export_onnx
    from training.model import ModelConfig, PerformanceRNN

    layers, hidden = (int(x) for x in spec.lower().split("x"))
    config = ModelConfig(layers=layers, hidden=hidden, embedding=max(32, hidden // 4), dropout=0.0)
    torch.manual_seed(0)
    model = PerformanceRNN(config)
    with torch.no_grad():
        bias = model.head.bias
        bias.zero_()
        bias[48:85] += 4.5  # NOTE_ON in a piano range
        bias[128:256] += 8.0  # NOTE_OFF (the engine only lets it end its own notes)
        bias[256 + 1 : 256 + 10] += 5.0  # TIME_SHIFT 20..100 ms
    checkpoint = folder / f"synthetic-{spec}.pt"
    torch.save({"config": config.to_dict(), "model": model.state_dict(), "step": 0}, checkpoint)
    return export_onnx.export_checkpoint(checkpoint, folder / f"synthetic-{spec}.onnx").path


def resolve_model(args, folder: Path) -> str:
    if args.synthetic:
        return str(synthetic_model(args.synthetic, folder))
    from perfjam.model import ModelError, find_model

    try:
        return str(find_model(args.model))
    except ModelError as exc:
        sys.exit(f"{exc}\n(no shipped model yet? use --synthetic 2x256 or --model PATH)")


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


# --- the player process ---------------------------------------------------------------------------
def player_main(args) -> None:
    """A pianist on virtual ports "keys" (the engine reads it) and "listen" (the engine sends to it)."""
    import queue

    from perfjam.live.realtime import raise_priority
    from perfjam.midi_io import MidiInput, MidiOutput

    raise_priority(20)  # a keyboard is a device: its timing must not suffer from our load
    received: queue.SimpleQueue = queue.SimpleQueue()
    keys = MidiOutput("keys", api="jack", virtual=True, client_name=args.client)
    listen = MidiInput("listen", received, api="jack", virtual=True, client_name=args.client + "-ears")
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    print("ready", flush=True)
    rng = random.Random(args.seed)
    scale, pitch, sent, held = [0, 2, 4, 5, 7, 9, 11], 60, 0, []
    music_s, start = 0.0, time.perf_counter()

    log = open(args.arrivals, "w") if args.arrivals else None  # noqa: SIM115
    count = 0
    sent_at: dict[tuple[int, bool], list[float]] = {}
    round_trip_ms: list[float] = []

    def press(p: int, on: bool) -> None:
        t = time.perf_counter()
        if on:
            keys.note_on(0, p, rng.randint(50, 110))
        else:
            keys.note_off(0, p)
        sent_at.setdefault((p, on), []).append(t)

    def note_arrivals() -> None:  # what came in on "listen": "time_s status data1 data2" lines
        nonlocal count
        while not received.empty():
            t, msg = received.get()
            count += 1
            if log is not None:
                log.write(f"{t:.6f} {' '.join(map(str, msg))}\n")
            if len(msg) == 3 and msg[0] & 0x0F == THRU_CHANNEL and msg[0] & 0xE0 == 0x80:
                times = sent_at.get((msg[1], msg[0] & 0xF0 == 0x90 and msg[2] > 0))
                while times and t - times[0] > 0.5:
                    times.pop(0)  # sent before the engine was listening: never echoed
                if times:  # our own note, back through the engine's thru: keys -> engine -> listen
                    round_trip_ms.append((t - times.pop(0)) * 1000)
        if log is not None:
            log.flush()

    def at(t_music: float) -> None:  # sleep until this music time
        note_arrivals()
        delay = start + t_music / args.speed - time.perf_counter()
        if delay > 0:
            time.sleep(delay)

    while not stop and music_s < args.seconds:
        phrase_end = music_s + rng.uniform(2.0, 5.0)
        while music_s < phrase_end and not stop:
            chord = rng.random() < 0.2
            pitch = max(40, min(84, pitch + rng.choice([-4, -2, -1, 1, 2, 3, 5])))
            notes = {pitch + d for d in ((0, 4, 7) if chord else (0,))}
            notes = {p - (p % 12) + min(scale, key=lambda s, p=p: abs(s - p % 12)) for p in notes}
            at(music_s)
            for p in sorted(notes):
                press(p, True)
                sent += 1
            held = sorted(notes)
            music_s += rng.choice([0.125, 0.167, 0.25, 0.25, 0.5])
            at(music_s - 0.02)
            for p in held:
                press(p, False)
                sent += 1
        music_s += rng.uniform(0.3, 1.5)  # a pause between phrases
    time.sleep(0.2)
    note_arrivals()
    trips = sorted(round_trip_ms)
    summary = {"sent": sent, "received": count}
    if trips:
        summary["thru_round_trip_ms"] = {"count": len(trips), "p50_ms": round(trips[len(trips) // 2], 3),
                                         "p99_ms": round(trips[int(len(trips) * 0.99)], 3),
                                         "max_ms": round(trips[-1], 3)}
    print(json.dumps(summary), flush=True)
    keys.close()
    listen.close()


@contextmanager
def player(client: str, speed: float, seconds: float, seed: int = 1, arrivals: Path | None = None):
    extra = ["--arrivals", str(arrivals)] if arrivals else []
    proc = subprocess.Popen([sys.executable, __file__, "--player", "--client", client, "--speed", str(speed),
                             "--seconds", str(seconds), "--seed", str(seed), *extra],
                            stdout=subprocess.PIPE, text=True)
    try:
        if proc.stdout.readline().strip() != "ready":
            raise RuntimeError("the player did not start")
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def start_engine(model: str, mode: str, speed: float, client: str, synth_jack: bool, **config):
    from perfjam.engine import Engine, EngineConfig, MidiSettings
    from perfjam.synth import SHIPPED_SOUNDFONT, Synth, SynthConfig

    synth = Synth(SynthConfig(soundfont=SHIPPED_SOUNDFONT, audio_drivers=("jack",) if synth_jack else (),
                              client_name="perfjam-bench-synth", jack_autoconnect=False))
    synth.start()
    engine = Engine(model, EngineConfig(mode=mode, speed=speed, seed=1, **config), synth=synth,
                    midi=MidiSettings(api="jack", input_name=f"{client}:keys",
                                      output_name=f"{client}-ears:listen", thru=True,
                                      thru_channel=THRU_CHANNEL))
    engine.start()
    return engine, synth


# --- the benchmark ------------------------------------------------------------------------------------
def run_condition(model: str, args, loaded: bool) -> dict:
    music_s = args.music_minutes * 60
    client = f"bench{os.getpid()}{'L' if loaded else 'I'}"
    with core_loaded(loaded), player(client, args.speed, music_s + 5) as proc:
        engine, synth = start_engine(model, args.mode, args.speed, client, synth_jack=not args.no_audio,
                                     note_reports=False)
        try:
            # One sleep: this (normal-priority) thread touching the GIL while another process keeps
            # the core busy could hold the engine thread up (see docs/ARCHITECTURE.md).
            time.sleep(music_s / args.speed)
            engine.drain_reports()
            stats = engine.stats()
            status = engine.status()
        finally:
            engine.stop()
            synth.close()
        proc.send_signal(signal.SIGTERM)
        tail = proc.stdout.read().strip().splitlines()
    played = json.loads(tail[-1]) if tail else {}
    return {
        "added_latency_ms": stats["thru_latency_ms"],
        "ai_timing_error_ms": stats["ai_timing_error_ms"],
        "late_notes": stats["late_notes"],
        "late_examples": [{"error_ms": e[0], "into_turn_ms": e[1]} for e in stats["late_examples"]][:10],
        "model_step_ms": stats["model_step_ms"],
        "steps_per_s": round(stats["steps_per_s"], 1),
        "events_in": stats["events_in"],
        "events_out": stats["events_out"],
        "player": played,
        "wall_s": round(stats["elapsed_s"], 1),
        "thread_priority": stats["thread_priority"],
        "audio": status.audio,
    }


def verdict(result: dict) -> dict:
    return {
        "added_latency_p99_ok": result["added_latency_ms"]["p99_ms"] <= TARGETS["added_latency_p99_ms"],
        "ai_timing_error_p99_ok": result["ai_timing_error_ms"]["p99_ms"] <= TARGETS["ai_timing_error_p99_ms"],
        "no_late_notes": result["late_notes"] == 0,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="perfjam-dynamics")
    p.add_argument("--synthetic", metavar="LxH", help="a random dense-playing model of this size, e.g. 2x256")
    p.add_argument("--mode", default="duet", choices=["call", "duet", "solo"])
    p.add_argument("--music-minutes", type=float, default=10.0)
    p.add_argument("--speed", type=float, default=5.0, help="music time per wall time")
    p.add_argument("--conditions", default="idle,loaded")
    p.add_argument("--no-audio", action="store_true", help="FluidSynth without the JACK audio driver")
    p.add_argument("--jack-no-realtime", action="store_true", help="a private jackd without -R")
    p.add_argument("--out", type=Path)
    p.add_argument("--player", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--client", default="bench", help=argparse.SUPPRESS)
    p.add_argument("--seconds", type=float, default=60.0, help=argparse.SUPPRESS)
    p.add_argument("--seed", type=int, default=1, help=argparse.SUPPRESS)
    p.add_argument("--arrivals", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.player:
        player_main(args)
        return 0
    if shutil.which("jackd") is None:
        sys.exit("needs jackd (apt install jackd2)")
    with tempfile.TemporaryDirectory() as tmp, jack_server(not args.jack_no_realtime) as (server, jack_mode):
        model = resolve_model(args, Path(tmp))
        report = {
            "benchmark": "live_latency",
            "model": Path(model).name,
            "mode": args.mode,
            "music_minutes": args.music_minutes,
            "speed": args.speed,
            "jack_server": server,
            "jack_mode": jack_mode,
            "cpus": os.cpu_count(),
            "loadavg_before": os.getloadavg(),
            "targets": TARGETS,
            "conditions": {},
        }
        for condition in args.conditions.split(","):
            result = run_condition(model, args, loaded=condition == "loaded")
            result["pass"] = verdict(result)
            report["conditions"]["one_core_loaded" if condition == "loaded" else "idle"] = result
        report["loadavg_after"] = os.getloadavg()
    emit(report, args.out)
    return 0


def emit(report: dict, out: Path | None) -> None:
    """Print the JSON report (and write it to ``out`` when given)."""
    text = json.dumps(report, indent=2)
    print(text)
    if out:
        out.write_text(text + "\n")


if __name__ == "__main__":
    sys.exit(main())
