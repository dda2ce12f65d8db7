"""Action -> sound through a JACK server, frame-accurate: the app's synth path and a bare
FluidSynth driven by the same MIDI, in one run; printed as JSON.

    python benchmarks/jack_action_to_sound.py [--notes 100] [--soundfont SF2] [--out FILE.json]

Design. One JACK client (ctypes on libjack, in its own process: ``--capture``) both plays and
listens, so every timestamp is a frame of the same JACK clock. Each process cycle it writes the
scheduled MIDI events into its MIDI output at their exact frame offset (note-ons ``--gap-s``
0.4-0.5 s apart, so they fall at random points of the 128-frame period; a note-off after 0.1 s
and All Sound Off after 0.3 s so that each note starts from digital silence) and copies its four
audio inputs into memory at their absolute frame positions (``jack_last_frame_time``). Its
MIDI output feeds
* "app": the engine (``perfjam.engine.Engine``, AI not playing) reading it through
  ``perfjam.midi_io`` and playing the human channel on ``perfjam.synth.Synth`` with FluidSynth's
  JACK audio driver (the app's path: MIDI client -> engine thread -> FluidSynth call ->
  FluidSynth's next JACK cycle);
* "raw": a bare pyfluidsynth Synth in another process (``--raw``) with FluidSynth's own JACK
  MIDI driver sharing its audio client (MIDI parsed in the process callback that renders).
Both synths' outputs go back to the capture client. A note's sound starts at the first frame
after its note-on where either channel is non-zero (above ``THRESHOLD``).

``event_to_sound_ms``: from the MIDI event's own frame to the first sound frame. Measured:
even raw FluidSynth starts a note at the first frame of the *next* period (0 to one period,
2.7 ms, after its event), so the period is in both; the app adds the engine's reading (polled
every 0.5 ms) and the FluidSynth call, and sounds a period later whenever that call misses the
next cycle. ``ratio_app_over_raw``: app / raw at p50 and p99. ``--loaded``: a busy loop pinned
to one core meanwhile. The server: ``jackd --no-realtime --sync -d dummy -r 48000 -p 128``
(--sync: the capture client, Python on JACK's thread, may be slow without losing frames).
A key press reaches JACK through a MIDI bridge (ALSA MIDI, a2jmidid) that adds its own period
to both paths alike; it is not part of these figures.
"""

from __future__ import annotations

import argparse
import ctypes
import faulthandler
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from live_latency import emit  # noqa: E402
from midi_rig import _die_with_parent, core_loaded, device_threads, jackd, summary_ms  # noqa: E402

RATE_HZ = 48_000
PERIOD_FRAMES = 128
THRESHOLD = 1e-5  # |sample|: FluidSynth's output after All Sound Off, without reverb, is exactly 0
CAPTURE, RAW, APP = "pj-capture", "pj-raw", "pj-app"
INPUTS = ("app_l", "app_r", "raw_l", "raw_r")
PITCH, VELOCITY = 60, 100


# --- the capture client (its own process) -----------------------------------------------------------
def _libjack() -> ctypes.CDLL:
    jack = ctypes.CDLL("libjack.so.0")
    c_void_p, c_char_p, c_uint32 = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_uint32
    signatures = {
        "jack_client_open": (c_void_p, [c_char_p, ctypes.c_int, c_void_p]),
        "jack_port_register": (c_void_p, [c_void_p, c_char_p, c_char_p, ctypes.c_ulong, ctypes.c_ulong]),
        "jack_set_process_callback": (ctypes.c_int, [c_void_p, c_void_p, c_void_p]),
        "jack_activate": (ctypes.c_int, [c_void_p]),
        "jack_deactivate": (ctypes.c_int, [c_void_p]),
        "jack_client_close": (ctypes.c_int, [c_void_p]),
        "jack_port_get_buffer": (c_void_p, [c_void_p, c_uint32]),
        "jack_last_frame_time": (c_uint32, [c_void_p]),
        "jack_get_sample_rate": (c_uint32, [c_void_p]),
        "jack_get_buffer_size": (c_uint32, [c_void_p]),
        "jack_midi_clear_buffer": (None, [c_void_p]),
        "jack_midi_event_write": (ctypes.c_int, [c_void_p, c_uint32, c_char_p, ctypes.c_size_t]),
    }
    for name, (restype, argtypes) in signatures.items():
        getattr(jack, name).restype = restype
        getattr(jack, name).argtypes = argtypes
    return jack


def schedule(notes: int, gap_s: tuple[float, float], seed: int) -> list[tuple[int, bytes, bool]]:
    """(frame from the start, MIDI bytes, is the note-on) for every event, in frame order."""
    rng = random.Random(seed)
    events, at = [], 0.2
    for _ in range(notes):
        on = round(at * RATE_HZ)
        events += [(on, bytes((0x90, PITCH, VELOCITY)), True),
                   (on + round(0.1 * RATE_HZ), bytes((0x80, PITCH, 0)), False),
                   (on + round(0.3 * RATE_HZ), bytes((0xB0, 120, 0)), False)]
        at += rng.uniform(*gap_s)
    return sorted(events, key=lambda e: e[0])


def capture_main(notes: int, gap_s: tuple[float, float], seed: int, out_path: Path) -> None:
    """Prints "ready" once its ports exist; on "go" plays the schedule while recording, then
    saves ``out_path`` (npz: audio, start frame, note-on frames) and prints "done"."""
    import numpy as np

    jack = _libjack()
    with device_threads(40):
        client = jack.jack_client_open(CAPTURE.encode(), 1, None)  # JackNoStartServer
    if not client or jack.jack_get_sample_rate(client) != RATE_HZ:
        sys.exit("capture: no JACK server at 48 kHz")
    midi = jack.jack_port_register(client, b"notes", b"8 bit raw midi", 2, 0)  # JackPortIsOutput
    ins = [jack.jack_port_register(client, n.encode(), b"32 bit float mono audio", 1, 0) for n in INPUTS]
    events = schedule(notes, gap_s, seed)
    total = events[-1][0] + RATE_HZ
    audio = np.zeros((len(INPUTS), total), np.float32)
    state = {"start": None, "next": 0, "done": False, "go": False}
    on_frames: list[int] = []
    get_buffer, last_frame = jack.jack_port_get_buffer, jack.jack_last_frame_time
    float_p = ctypes.POINTER(ctypes.c_float)

    @ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_uint32, ctypes.c_void_p)
    def process(nframes: int, _arg) -> int:
        buffer = get_buffer(midi, nframes)
        jack.jack_midi_clear_buffer(buffer)
        if not state["go"] or state["done"]:
            return 0
        f0 = last_frame(client)
        if state["start"] is None:
            state["start"] = f0
        rel = f0 - state["start"]
        while state["next"] < len(events) and events[state["next"]][0] < rel + nframes:
            frame, data, is_on = events[state["next"]]
            offset = max(0, frame - rel)  # a missed cycle: as soon as possible (recorded as written)
            jack.jack_midi_event_write(buffer, offset, data, len(data))
            if is_on:
                on_frames.append(rel + offset)
            state["next"] += 1
        if rel + nframes <= total:
            for row, port in enumerate(ins):
                samples = np.ctypeslib.as_array(ctypes.cast(get_buffer(port, nframes), float_p), (nframes,))
                audio[row, rel:rel + nframes] = samples
        else:
            state["done"] = True
        return 0

    jack.jack_set_process_callback(client, ctypes.cast(process, ctypes.c_void_p), None)
    with device_threads(40):
        jack.jack_activate(client)
    print("ready", flush=True)
    if sys.stdin.readline().strip() == "go":
        state["go"] = True
        while not state["done"]:
            time.sleep(0.05)
    jack.jack_deactivate(client)
    jack.jack_client_close(client)
    np.savez(out_path, audio=audio, on_frames=np.array(on_frames, np.int64))
    print("done", flush=True)


# --- the bare FluidSynth (its own process) ---------------------------------------------------------------
def raw_main(soundfont: str) -> None:
    """FluidSynth with its own JACK MIDI driver: no Python between MIDI and sound."""
    import fluidsynth

    os.environ.setdefault("JACK_NO_START_SERVER", "1")
    fs = fluidsynth.Synth(gain=0.5, samplerate=float(RATE_HZ), channels=16)
    for key, value in (("synth.reverb.active", 0), ("synth.chorus.active", 0), ("audio.jack.id", RAW),
                       ("audio.jack.autoconnect", 0), ("midi.jack.id", RAW)):
        fs.setting(key, value)
    sfid = fs.sfload(soundfont)
    fs.program_select(0, sfid, 0, 0)
    fs.start(driver="jack", midi_driver="jack")
    print("ready", flush=True)
    sys.stdin.readline()
    fs.delete()


# --- the run ---------------------------------------------------------------------------------------------
def _child(*args: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, __file__, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, preexec_fn=_die_with_parent)
    if proc.stdout.readline().strip() != "ready":
        raise RuntimeError(f"{args[0]} did not start")
    return proc


def _ports(pattern: str) -> list[str]:
    out = subprocess.run(["jack_lsp"], capture_output=True, text=True, check=True).stdout.splitlines()
    return [p for p in out if pattern in p]


def onsets(audio, on_frames, left: int, right: int) -> tuple[list[int], int]:
    """(first non-silent frame minus the note-on frame, per note; notes not silent before)."""
    import numpy as np

    level = np.maximum(np.abs(audio[left]), np.abs(audio[right]))
    out, noisy = [], 0
    for frame in on_frames:
        start = frame - PERIOD_FRAMES  # raw FluidSynth starts the note at its period's first frame
        if level[max(0, start - RATE_HZ // 20):start].max(initial=0.0) > THRESHOLD:
            noisy += 1
            continue
        loud = np.flatnonzero(level[start:frame + RATE_HZ // 10] > THRESHOLD)
        if loud.size:
            out.append(int(start + loud[0] - frame))
    return out, noisy


def figures(deltas_frames: list[int]) -> dict:
    return {"event_to_sound_ms": summary_ms([d / RATE_HZ for d in deltas_frames])}


def run(args) -> dict:
    from perfjam.engine import Engine, EngineConfig, MidiSettings
    from perfjam.synth import Synth, SynthConfig, find_soundfont

    soundfont = str(find_soundfont(args.soundfont))
    folder = Path(tempfile.mkdtemp(prefix="pj-a2s-"))
    capture = _child("--capture", str(args.notes), str(args.seed), str(folder / "capture.npz"))
    raw = _child("--raw", soundfont)
    synth = Synth(SynthConfig(soundfont=soundfont, audio_drivers=("jack",), client_name=APP,
                              jack_autoconnect=False, reverb=False, chorus=False, sample_rate_hz=RATE_HZ))
    engine = None
    try:
        if not synth.start():
            raise RuntimeError("the app's FluidSynth could not open JACK")
        config = EngineConfig(mode="call", playing=False, note_reports=False, input_poll_ms=args.poll_ms)
        engine = Engine(args.model, config, synth=synth,
                        midi=MidiSettings(api="jack", input_name=f"{CAPTURE}:notes"))
        engine.start()
        raw_midi = [p for p in _ports(f"{RAW}:") if "midi" in p]
        links = [(f"{CAPTURE}:notes", raw_midi[0]), (f"{APP}:left", f"{CAPTURE}:app_l"),
                 (f"{APP}:right", f"{CAPTURE}:app_r"), (f"{RAW}:left", f"{CAPTURE}:raw_l"),
                 (f"{RAW}:right", f"{CAPTURE}:raw_r")]
        for source, target in links:
            subprocess.run(["jack_connect", source, target], check=True)
        with core_loaded(args.loaded):
            time.sleep(0.5)
            capture.stdin.write("go\n")
            capture.stdin.flush()
            if capture.stdout.readline().strip() != "done":
                raise RuntimeError("the capture client did not finish")
            stats = engine.stats()
    finally:
        if engine is not None:
            engine.stop()
        synth.close()
        for proc in (capture, raw):
            if proc.poll() is None:
                proc.stdin.write("\n")
                proc.stdin.flush()
                proc.wait(10)
    import numpy as np

    data = np.load(folder / "capture.npz")
    shutil.rmtree(folder, ignore_errors=True)
    on_frames = [int(f) for f in data["on_frames"]]
    app, app_noisy = onsets(data["audio"], on_frames, 0, 1)
    raw_deltas, raw_noisy = onsets(data["audio"], on_frames, 2, 3)
    report = {"notes": len(on_frames), "soundfont": Path(soundfont).name,
              "period_ms": round(PERIOD_FRAMES * 1000 / RATE_HZ, 3),
              "offsets_in_period": len({f % PERIOD_FRAMES for f in on_frames}),
              "app": {**figures(app), "heard": len(app), "not_silent_before": app_noisy,
                      "engine_added_latency_ms": stats["thru_latency_ms"]},
              "raw_fluidsynth": {**figures(raw_deltas), "heard": len(raw_deltas),
                                 "not_silent_before": raw_noisy}}
    a, r = report["app"]["event_to_sound_ms"], report["raw_fluidsynth"]["event_to_sound_ms"]
    report["ratio_app_over_raw"] = {q: round(a[q] / r[q], 2) for q in ("p50_ms", "p99_ms") if r.get(q)}
    report["app_minus_raw_p50_ms"] = round(a["p50_ms"] - r["p50_ms"], 3)
    return report


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--notes", type=int, default=100)
    p.add_argument("--soundfont", default=None, help="default: the app's (a system GM SoundFont)")
    p.add_argument("--model", default="perfjam-dynamics")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--loaded", action="store_true", help="a busy loop pinned to one core meanwhile")
    p.add_argument("--poll-ms", type=float, default=0.5, help="EngineConfig.input_poll_ms")
    p.add_argument("--out", type=Path)
    p.add_argument("--capture", nargs=3, help=argparse.SUPPRESS)
    p.add_argument("--raw", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    faulthandler.enable()
    if args.capture:
        notes, seed, out = args.capture
        capture_main(int(notes), (0.4, 0.5), int(seed), Path(out))
        return 0
    if args.raw:
        raw_main(args.raw)
        return 0
    if shutil.which("jackd") is None:
        sys.exit("needs jackd (apt install jackd2)")
    with jackd(f"perfjam-a2s-{os.getpid()}", sync=True):
        report = {"benchmark": "jack_action_to_sound", "loaded": args.loaded, "input_poll_ms": args.poll_ms,
                  "jack": "jackd --no-realtime --sync -d dummy -r 48000 -p 128",
                  "cpus": os.cpu_count(), "loadavg_before": os.getloadavg(), **run(args),
                  "loadavg_after": os.getloadavg()}
    emit(report, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
