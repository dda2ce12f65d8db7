"""Soak: an accelerated 30-minute session (solo and duet, real JACK ports, recording on), printed
as JSON with RSS growth and timing drift per window; both must stay flat.

    python benchmarks/soak.py [--model NAME|PATH | --synthetic 2x256] [--music-minutes 30]
        [--speed 10] [--windows 12] [--out FILE.json]

The player process of ``live_latency.py`` plays the human part throughout and logs what it
hears on the engine's output; the mode alternates solo / duet every fifth of the session. Per
window: process RSS, the AI notes' end-to-end timing (arrival at the player, another process,
minus the scheduled time; perf_counter is CLOCK_MONOTONIC, one clock for both), the engine's
own timing error p99, model step p99, steps/s and late notes. Flat means: RSS grows less than
``--max-rss-growth-mb`` after the first window, and the last window's timing median is within
0.5 ms (p99 within 1 ms) of the first window's.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import defaultdict, deque
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from live_latency import ROOT, emit, jack_server, player, resolve_model, rss_mb, start_engine  # noqa: E402

sys.path.insert(0, str(ROOT))


def percentile(values, q):
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))], 3)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="perfjam-dynamics")
    p.add_argument("--synthetic", metavar="LxH")
    p.add_argument("--music-minutes", type=float, default=30.0)
    p.add_argument("--speed", type=float, default=10.0)
    p.add_argument("--windows", type=int, default=12)
    p.add_argument("--max-rss-growth-mb", type=float, default=8.0)
    p.add_argument("--jack-no-realtime", action="store_true", help="a private jackd without -R")
    p.add_argument("--out", type=Path)
    args = p.parse_args(argv)

    from perfjam.engine import NoteReport
    from perfjam.live.realtime import raise_priority

    raise_priority(20)  # this thread's Python work must not hold the engine up (GIL, see docs)

    with tempfile.TemporaryDirectory() as tmp, jack_server(not args.jack_no_realtime) as (server, jack_mode):
        model = resolve_model(args, Path(tmp))
        music_s = args.music_minutes * 60
        wall_s = music_s / args.speed
        client = f"soak{os.getpid()}"
        arrivals_path = Path(tmp) / "arrivals.txt"
        with player(client, args.speed, music_s + 10, arrivals=arrivals_path):
            engine, synth = start_engine(model, "solo", args.speed, client, synth_jack=True)
            arrivals = open(arrivals_path)  # noqa: SIM115 - the player's log of what it heard, as it grows
            take = Path(tmp) / "soak.mid"
            engine.start_recording(take)
            scheduled: dict[tuple[int, bool], deque] = defaultdict(deque)
            windows, offsets, start = [], [], time.perf_counter()
            waiting: deque = deque()
            window_s = wall_s / args.windows
            late_before, steps_before, mode_index = 0, 0, 0
            for w in range(args.windows):
                if w * 5 // args.windows != mode_index:
                    mode_index = w * 5 // args.windows
                    engine.set_mode("duet" if mode_index % 2 else "solo")
                end = start + (w + 1) * window_s
                offsets = []
                while time.perf_counter() < end:
                    time.sleep(0.2)
                    for report in engine.drain_reports():
                        if isinstance(report, NoteReport) and report.source == "ai":
                            scheduled[(report.pitch, report.is_on)].append(report.time_s)
                    for line in arrivals.readlines():
                        if line.endswith("\n"):
                            t_text, *data = line.split()
                            waiting.append((float(t_text), tuple(int(b) for b in data)))
                    # Match an arrival once its NoteReport (put just after the send) is surely in.
                    while waiting and waiting[0][0] < time.perf_counter() - 0.05:
                        t, msg = waiting.popleft()
                        kind = msg[0] & 0xF0
                        if kind not in (0x80, 0x90) or len(msg) < 3 or msg[0] & 0x0F != 0:
                            continue  # channel 0: the AI's notes (channel 1 echoes the player)
                        times = scheduled[(msg[1], kind == 0x90 and msg[2] > 0)]
                        while times and times[0] < t - 0.5:
                            times.popleft()  # sent before the connection or lost: unmatched
                        if times and times[0] <= t + 0.0005:
                            offsets.append((t - times.popleft()) * 1000)
                stats, status = engine.stats(), engine.status()
                windows.append({
                    "window": w,
                    "mode": status.mode,
                    "music_minutes_end": round((time.perf_counter() - start) * args.speed / 60, 2),
                    "rss_mb": round(rss_mb(), 2),
                    "arrival_minus_schedule_ms": {"median": percentile(offsets, 50),
                                                  "p99": percentile(offsets, 99), "count": len(offsets)},
                    "ai_timing_error_p99_ms": round(status.timing_error_ms_p99, 3),
                    "model_step_p99_ms": round(status.step_ms_p99, 3),
                    "steps_per_s": round((stats["model_steps"] - steps_before) / window_s, 1),
                    "late_notes": stats["late_notes"] - late_before,
                })
                late_before, steps_before = stats["late_notes"], stats["model_steps"]
            engine.stop_recording()
            final = engine.stats()
            engine.stop()
            arrivals.close()
            synth.close()
        import mido

        recording = mido.MidiFile(take) if take.exists() else None
        first, last = windows[0], windows[-1]
        fa, la = first["arrival_minus_schedule_ms"], last["arrival_minus_schedule_ms"]
        report = {
            "benchmark": "soak",
            "model": Path(model).name,
            "music_minutes": args.music_minutes,
            "speed": args.speed,
            "jack_server": server,
            "jack_mode": jack_mode,
            "loadavg": os.getloadavg(),
            "windows": windows,
            "rss_growth_mb": round(last["rss_mb"] - first["rss_mb"], 2),
            "timing_drift_median_ms": None if la["median"] is None else round(la["median"] - fa["median"], 3),
            "timing_drift_p99_ms": None if la["p99"] is None else round(la["p99"] - fa["p99"], 3),
            "late_notes": final["late_notes"],
            "late_examples_ms": [e[0] for e in final["late_examples"]][:10],
            "ai_timing_error_ms": final["ai_timing_error_ms"],
            "added_latency_ms": final["thru_latency_ms"],
            "recording": {"minutes": round(recording.length / 60, 2), "tracks": len(recording.tracks)}
            if recording else None,
        }
        report["flat"] = {
            "rss": report["rss_growth_mb"] < args.max_rss_growth_mb,
            "timing": report["timing_drift_median_ms"] is not None
            and abs(report["timing_drift_median_ms"]) < 0.5 and report["timing_drift_p99_ms"] < 1.0,
        }
    emit(report, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
