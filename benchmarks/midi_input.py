"""MIDI input on a JACK server as many desktops run it (no ``--sync``, no realtime scheduling):
messages lost and duplicated, input latency, and replug -> first message; printed as JSON.

    python benchmarks/midi_input.py [--messages 10000] [--conditions idle,loaded] [--replugs 8]
        [--midi-dir ../shared/data/asap] [--model NAME|PATH] [--sync] [--reference-first]
        [--out FILE.json]

A private ``jackd --no-realtime -d dummy -r 48000 -p 128`` (``--sync`` only when asked) carries
the MIDI. A sender process (a keyboard: a virtual JACK MIDI output; a device, so its JACK
threads run SCHED_FIFO 30 when allowed) plays a performance into the engine's input: the first
60 s of real performances from
``--midi-dir`` (note-ons, note-offs, CC64 every ~10-20 ms while the pedal moves), several at
once on their own channels until ``--messages`` are sent, else a synthetic stream of that kind.
The engine (duet mode: the AI plays along) runs here with FluidSynth on JACK; what reaches the
synth is logged (the real Synth, with each human call appended to a list). The data bytes of
the stream are nudged so that no (kind, pitch/control, value) repeats within ``WINDOW``
messages: every message the synth receives is then matched exactly to the one sent (lost =
sent and never received, duplicated = received twice).

Per condition ("idle", and "loaded": a busy Python loop pinned with ``taskset -c 1``):
* ``lost`` / ``duplicated`` / ``unknown`` counts (by kind), and ``doubled_note_ons_dropped``:
  note-ons the server delivered twice that the engine's input dropped (perfjam.midi_io.doubles);
* ``reference``: the same counts for a plain C client on the same port in the same run
  (``jack_midi_dump``, its JACK thread at the app's input client's SCHED_FIFO 30): what any
  client loses on this server and machine; ``lost_by_both``: messages neither received. JACK
  wakes the clients a port feeds in the order they were opened, and on a virtual machine the one
  woken first loses the more (it is sent to the other vCPU, which the host may not be running):
  the engine opens first unless ``--reference-first``;
* ``steal_jiffies_while_playing``: CPU time the hypervisor took from a virtual machine while the
  stream played (losses on a server without --sync follow it, for every client);
* ``jackd_late_reports`` (jackd's
  "not finished" lines: a client that missed its cycle; engine start included) and
  ``jackd_late_reports_while_playing``;
* ``engine_turn_ms``: the engine thread's runs between two waits while playing (a thread at
  real-time priority that ran long would keep the CPU from a server without it);
* ``send_to_synth_ms``: the sender's ``perf_counter`` just before sending -> the engine's synth
  call (same clock across processes): what a player waits, JACK's period (2.7 ms) included;
* ``engine_added_latency_ms``: the engine's own figure, arrival stamp -> synth call;
* ``stamp_minus_send_ms``: the arrival stamp the engine gave each note-on minus its send time
  (a stamp is never earlier than the send; JACK delivers within about one period);
* ``replug_to_first_message_ms``: the sender closes its port, waits 1 s, opens it again and
  sends a probe every 2 ms: port back -> the first probe at the synth.
"""

from __future__ import annotations

import argparse
import faulthandler
import os
import shutil
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from live_latency import emit  # noqa: E402
from midi_rig import (  # noqa: E402
    REPLUG_PITCH,
    Message,
    ReferenceReceiver,
    Sender,
    core_loaded,
    jackd,
    late_reports,
    match,
    performance,
    summary_ms,
    visible,
)


def steal_jiffies() -> int:
    """The CPU time the hypervisor has taken from this machine so far (/proc/stat "steal", in
    jiffies: 4 ms at HZ=250); 0 where unknown."""
    try:
        with open("/proc/stat") as stat:
            return int(stat.readline().split()[8])
    except (OSError, IndexError, ValueError):
        return 0


# --- the engine side -----------------------------------------------------------------------------------
def logging_synth(**config):
    """The real Synth, appending (perf_counter, kind, a, b) for each human-channel call to ``log``."""
    from perfjam.synth import Synth, SynthConfig

    class LoggingSynth(Synth):
        def __init__(self) -> None:
            super().__init__(SynthConfig(**config))
            self.log: list[tuple[float, str, int, int]] = []
            self._human = self.config.human_channel

        def note_on(self, channel: int, pitch: int, velocity: int) -> None:
            if channel == self._human:
                self.log.append((time.perf_counter(), "on", pitch, velocity))
            super().note_on(channel, pitch, velocity)

        def note_off(self, channel: int, pitch: int) -> None:
            if channel == self._human:
                self.log.append((time.perf_counter(), "off", pitch, 0))
            super().note_off(channel, pitch)

        def control_change(self, channel: int, control: int, value: int) -> None:
            if channel == self._human:
                self.log.append((time.perf_counter(), "cc", control, value))
            super().control_change(channel, control, value)

    return LoggingSynth()


def start_engine(model: str, client: str, audio: bool, priority: int = 20):
    from perfjam.engine import Engine, EngineConfig, MidiSettings
    from perfjam.synth import SHIPPED_SOUNDFONT

    synth = logging_synth(soundfont=SHIPPED_SOUNDFONT, audio_drivers=("jack",) if audio else (),
                          client_name=f"{client}-synth", jack_autoconnect=False, reverb=False)
    synth.start()
    engine = Engine(model, EngineConfig(mode="duet", seed=1, realtime_priority=priority), synth=synth,
                    midi=MidiSettings(api="jack", input_name=f"{client}:keys"))
    engine.start()
    return engine, synth


def settle(sender: Sender, synth, timeout_s: float = 10.0) -> None:
    """Probes until one reaches the synth: a new JACK connection takes effect a cycle later."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        sender.command("probe")
        time.sleep(0.05)
        if any(entry[1:] == ("off", 0, 0) for entry in synth.log):
            return
    raise RuntimeError("the engine's input never received a probe")


def run_condition(model: str, stream: list[tuple[float, Message]], *, loaded: bool, folder: Path,
                  log_path: Path, replugs: int = 0, audio: bool = True, priority: int = 20,
                  reference_first: bool = False) -> dict:
    """``stream`` through the sender into an engine on the JACK server in $JACK_DEFAULT_SERVER
    (whose log is ``log_path``), then ``replugs`` replugs; the figures of the module docstring.
    ``reference_first``: the C client opens before the engine, so that JACK wakes it first."""
    from perfjam.engine import NoteReport

    client = f"mi{os.getpid()}{'L' if loaded else 'I'}"
    late_before = late_reports(log_path)
    sender = Sender(client, stream, folder)
    reference = ReferenceReceiver(f"{client}-ref", f"{client}:keys")
    with ExitStack() as opened:
        opened.callback(sender.close)
        if reference_first:
            opened.enter_context(reference)
        engine, synth = start_engine(model, client, audio=audio, priority=priority)
        opened.callback(synth.close)
        opened.callback(engine.stop)
        settle(sender, synth)
        if not reference_first:
            opened.enter_context(reference)
        with core_loaded(loaded):
            time.sleep(0.5)
            synth.log.clear()
            engine.query(lambda loop: (loop.thru_latency.reset(), loop.turn_time.reset()))
            engine.drain_reports()
            late_at_play, steal_at_play = late_reports(log_path), steal_jiffies()
            sent_s = sender.command("play", answer=True)
            time.sleep(0.5)
            late_while_playing = late_reports(log_path) - late_at_play
            stolen_while_playing = steal_jiffies() - steal_at_play
            reference.stop()
            log = list(synth.log)
            stats = engine.stats()
            reports = engine.drain_reports()
            replug = sender.command(f"replug {replugs}", answer=True) if replugs else []
            time.sleep(0.3)
            replug_log = list(synth.log)
    received = [entry[1:] for entry in log if entry[1:] != ("off", 0, 0) and entry[2] != REPLUG_PITCH]
    times = [entry[0] for entry in log if entry[1:] != ("off", 0, 0) and entry[2] != REPLUG_PITCH]
    result = match([m for _, m in stream], received)
    pairs = result.pop("pairs")
    lost_at = result.pop("lost_at")
    ref = match([m for _, m in stream], [m for m in reference.received if m != ("off", 0, 0)])
    ref_lost_at = ref.pop("lost_at")
    del ref["pairs"]
    result["reference"] = {**ref, "ring_full": reference.ring_full}
    result["lost_by_both"] = len(set(lost_at) & set(ref_lost_at))
    result["lost_examples"] = [  # the first few: when sent, and how soon after the message before
        {"index": j, "sent_at_s": round(sent_s[j] - sent_s[0], 4),
         "after_previous_ms": round((sent_s[j] - sent_s[j - 1]) * 1000, 3) if j else None}
        for j in lost_at[:10]]
    # the k-th human note-on report belongs to the k-th note-on the synth received
    on_reports = [r for r in reports if isinstance(r, NoteReport) and r.source == "human" and r.is_on]
    on_received = [i for i, got in enumerate(received) if got[0] == "on"]
    sent_of = dict(pairs)
    stamps = [r.time_s - sent_s[sent_of[i]] for r, i in zip(on_reports, on_received, strict=False)
              if i in sent_of and (r.pitch, r.velocity) == received[i][1:]]
    first = []
    for i, (_before, after) in enumerate(replug):
        hits = [t for t, kind, a, b in replug_log if kind == "on" and a == REPLUG_PITCH and b == i + 1]
        if hits:
            first.append(hits[0] - after)
    return {
        "messages_sent": len(stream),
        "sent_by_kind": {k: sum(visible(m)[0] == k for _, m in stream) for k in ("on", "off", "cc")},
        "stream_seconds": round(stream[-1][0], 1),
        "received": len(received),
        **result,
        "jackd_late_reports": late_reports(log_path) - late_before,  # engine start included
        "jackd_late_reports_while_playing": late_while_playing,
        "steal_jiffies_while_playing": stolen_while_playing,  # CPU time a hypervisor took from this VM
        "send_to_synth_ms": summary_ms([times[i] - sent_s[j] for i, j in pairs]),
        "engine_added_latency_ms": stats["thru_latency_ms"],
        "stamp_minus_send_ms": {**summary_ms([max(0.0, s) for s in stamps]),
                                "stamps_before_send": sum(s < 0 for s in stamps),
                                "earliest_ms": round(min(stamps, default=0.0) * 1000, 3),
                                # a stamp is the middle of its arrival bracket: it may precede the
                                # send by up to half the bracket (the engine polls every <= 0.5 ms)
                                "stamps_before_send_by_over_1ms": sum(s < -0.001 for s in stamps)},
        "replug_to_first_message_ms": {**summary_ms(first), "replugs": len(replug),
                                       "never_heard": len(replug) - len(first)},
        "doubled_note_ons_dropped": stats["doubled_note_ons_dropped"],  # by the input (midi_io.doubles)
        "late_notes": stats["late_notes"],
        "engine_turn_ms": stats["turn_ms"],  # its longest run without a pause (EngineConfig.work_slice_ms)
        "ai_timing_error_ms": stats["ai_timing_error_ms"],
        "thread_priority": stats["thread_priority"],
        "locked_mb": stats["locked_mb"],
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--messages", type=int, default=10_000)
    p.add_argument("--conditions", default="idle,loaded")
    p.add_argument("--replugs", type=int, default=8)
    p.add_argument("--midi-dir", type=Path, default=None,
                   help="real performances (default: ../shared/data/asap when it exists, else synthetic)")
    p.add_argument("--synthetic", action="store_true", help="a synthetic performance even with --midi-dir")
    p.add_argument("--model", default="perfjam-dynamics")
    p.add_argument("--sync", action="store_true", help="run jackd with --sync (for comparison)")
    p.add_argument("--no-audio", action="store_true", help="FluidSynth without its JACK audio driver")
    p.add_argument("--reference-first", action="store_true",
                   help="open the plain C client before the engine (JACK wakes it first)")
    p.add_argument("--engine-priority", type=int, default=20,
                   help="EngineConfig.realtime_priority (SCHED_FIFO; 0: normal scheduling)")
    p.add_argument("--out", type=Path)
    args = p.parse_args(argv)
    faulthandler.enable()
    if shutil.which("jackd") is None:
        sys.exit("needs jackd (apt install jackd2)")
    default_dir = ROOT.parent / "shared" / "data" / "asap"
    if args.synthetic:
        args.midi_dir = None
    elif args.midi_dir is None and default_dir.is_dir():
        args.midi_dir = default_dir
    from perfjam.model import find_model

    model = str(find_model(args.model))
    name = f"perfjam-mi-{os.getpid()}"
    with tempfile.TemporaryDirectory() as tmp, jackd(name, sync=args.sync) as log_path:
        report = {
            "benchmark": "midi_input",
            "jack": f"jackd --no-realtime{' --sync' if args.sync else ''} -d dummy -r 48000 -p 128",
            "performance": str(args.midi_dir) if args.midi_dir else "synthetic",
            "model": Path(model).name,
            "cpus": os.cpu_count(),
            "loadavg_before": os.getloadavg(),
            "conditions": {},
        }
        for condition in args.conditions.split(","):
            loaded = condition == "loaded"
            stream = performance(args.messages, seed=1, midi_dir=args.midi_dir)
            result = run_condition(model, stream, loaded=loaded, folder=Path(tmp), log_path=log_path,
                                   replugs=args.replugs, audio=not args.no_audio,
                                   priority=args.engine_priority, reference_first=args.reference_first)
            report["conditions"]["one_core_loaded" if loaded else "idle"] = result
        report["loadavg_after"] = os.getloadavg()
    emit(report, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
