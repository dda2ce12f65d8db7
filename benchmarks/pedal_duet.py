"""Duet with a real pedalled performance: does the AI keep playing while the foot moves?

    tools/with-jack.sh .venv/bin/python benchmarks/pedal_duet.py [--file REL.mid] [--seconds 60]
        [--model NAME|PATH] [--out FILE.json]

The first ``--seconds`` of a pedalled test-split performance from ../shared/data/asap (its notes and its
CC64 stream, which moves every ~20 ms while the pianist pedals) are played into the engine's
input through a real JACK port, in duet mode with the shipped default model, twice: as
recorded, and with every CC64 removed. Printed as JSON: the AI's note-ons per second inside
the seconds where the pedal moves and elsewhere, for both runs, their ratio, and the longest
AI note (the limit is the engine's ``max_note_s``).
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT))

from live_latency import emit  # noqa: E402

ASAP = ROOT.parent / "shared" / "data" / "asap"


def _is_pedal(data) -> bool:
    return data[0] & 0xF0 == 0xB0 and data[1] == 64


def _first_pedalled_test_file(seconds: float) -> str:
    """The first test-split performance with a CC64 message per 0.1 s in its first ``seconds``."""
    from perfjam.codec.midifile import timed_messages

    with open(ASAP / "split.csv") as f:
        for row in csv.DictReader(f):
            if row["split"] == "test":
                stream = timed_messages(ASAP / row["midi_performance"])
                if sum(1 for t, _k, d in stream if t < seconds and _is_pedal(d)) >= 10 * seconds:
                    return row["midi_performance"]
    raise SystemExit("no pedalled performance in the test split")


def _run(model: str, messages, seconds: float, tag: str) -> tuple[list, float]:
    """Play ``messages`` ((time_s, bytes)) into a duet; the AI's (time_s, pitch, is_on) sent."""
    from perfjam import midi_io
    from perfjam.engine import Engine, EngineConfig, MidiSettings, NoteReport

    keys = midi_io.MidiOutput("keys", api="jack", virtual=True, client_name=f"pedal-kb-{tag}")
    engine = Engine(model, EngineConfig(mode="duet", seed=1), midi=MidiSettings(
        api="jack", input_name=f"pedal-kb-{tag}:keys"))
    engine.start()
    time.sleep(0.5)
    ai: list = []
    start = time.perf_counter()
    for time_s, data in messages:
        while time.perf_counter() - start < time_s:
            time.sleep(0.001)
        keys.send(data)
        ai += [(r.time_s - start, r.pitch, r.is_on) for r in engine.drain_reports()
               if isinstance(r, NoteReport) and r.source == "ai"]
    time.sleep(max(0.0, seconds - (time.perf_counter() - start)))
    ai += [(r.time_s - start, r.pitch, r.is_on) for r in engine.drain_reports()
           if isinstance(r, NoteReport) and r.source == "ai"]
    limit_s = engine.config.max_note_s
    engine.stop()
    keys.panic()
    keys.close()
    return ai, limit_s


def _longest_s(notes) -> float:
    opened, longest = {}, 0.0
    for t, pitch, on in sorted(notes):
        if on:
            opened[pitch] = t
        elif pitch in opened:
            longest = max(longest, t - opened.pop(pitch))
    return longest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", help="a performance, relative to ../shared/data/asap (default: the "
                                       "first pedalled one of the test split)")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--model", default="perfjam-dynamics")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    from perfjam.codec.midifile import timed_messages
    from perfjam.model import find_model

    rel = args.file or _first_pedalled_test_file(args.seconds)
    stream = [(t, data) for t, _track, data in timed_messages(ASAP / rel) if t < args.seconds]
    pedal_s = {int(t) for t, data in stream if _is_pedal(data)}
    model = str(find_model(args.model))
    report: dict = {"file": rel, "seconds": args.seconds, "model": args.model,
                    "cc64_messages": sum(1 for _t, d in stream if _is_pedal(d)),
                    "seconds_with_pedal_moving": len(pedal_s)}
    unpedalled = [(t, d) for t, d in stream if not _is_pedal(d)]
    for name, messages in (("with_pedal", stream), ("without_pedal", unpedalled)):
        ai, limit_s = _run(model, messages, args.seconds, name.split("_")[0])
        ons = [t for t, _p, on in ai if on and 0 <= t < args.seconds]
        inside = sum(1 for t in ons if int(t) in pedal_s)
        report[name] = {
            "ai_note_ons": len(ons),
            "ai_ons_per_s_while_pedalling": round(inside / max(1, len(pedal_s)), 2),
            "ai_ons_per_s_elsewhere": round((len(ons) - inside) / max(1.0, args.seconds - len(pedal_s)), 2),
            "longest_ai_note_s": round(_longest_s(ai), 3), "max_note_s": limit_s,
        }
    plain = report["without_pedal"]["ai_ons_per_s_while_pedalling"]
    report["ratio_while_pedalling"] = round(report["with_pedal"]["ai_ons_per_s_while_pedalling"] / plain, 3) \
        if plain else None
    emit(report, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
