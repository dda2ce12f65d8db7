"""Sampling settings chosen by measurement: free play at each temperature / min-p / top-p against
30-s windows of real performances (JSON).

    .venv/bin/python benchmarks/sampling_sweep.py [--model NAME|PATH] [--samples 12] [--seconds 30]
        [--temperatures 0.9,1.0,1.1] [--min-ps 0,0.02,0.05,0.1] [--top-ps 1,0.95] [--out FILE.json]

Each setting plays ``--samples`` performances of ``--seconds`` from the default primer, freely (the
app's start: no control), through ``perfjam.generation`` (the grammar, as the app). Each sample and
each 30-s window of the data (the notes begun in it, at full length; ../shared/data/asap) is
described by ``STATS`` (``perfjam.musicality``). A statistic of a setting is *inside* when the
median over its samples lies within the data's interquartile range. Settings are ranked by how
many statistics are inside on the **validation** split (ties: the smaller summed distance of the
medians from the data's, in IQRs); the **test** split's count is reported beside it, never used
to choose. The model card's table comes from here.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT))

from live_latency import emit  # noqa: E402
from partner_data import ASAP, performances  # noqa: E402

from perfjam import musicality as mu  # noqa: E402

WINDOW_S = 30.0
STATS = ("pitch_range", "pitches_used", "pitch_class_entropy", "scale_consistency", "polyphony",
         "notes_per_s", "duration_s", "velocity", "recurring_figures")


def describe(notes, seconds: float) -> dict[str, float]:
    return {
        "pitch_range": mu.pitch_range(notes), "pitches_used": mu.pitches_used(notes),
        "pitch_class_entropy": mu.pitch_class_entropy(notes),
        "scale_consistency": mu.scale_consistency(notes),
        "polyphony": mu.polyphony(notes), "notes_per_s": len(notes) / seconds,
        "duration_s": mu.median_duration_s(notes) or 0.0, "velocity": mu.median_velocity(notes) or 0.0,
        "recurring_figures": mu.recurring_figures(notes),
    }


def data_windows(split: str, seconds: float = WINDOW_S) -> list[dict[str, float]]:
    """``describe`` of every whole ``seconds`` window of the split's performances."""
    from perfjam.codec.midifile import read_notes

    out = []
    for paths in performances(split).values():
        for path in paths:
            notes = read_notes(ASAP / path)
            if not notes:
                continue
            end_s = max(n.start_s for n in notes)
            start = notes[0].start_s
            while start + seconds <= end_s:
                window = [n for n in notes if start <= n.start_s < start + seconds]
                if len(window) >= 8:
                    out.append(describe(window, seconds))
                start += seconds
    return out


def quartiles(windows: list[dict[str, float]]) -> dict[str, tuple[float, float, float]]:
    return {k: tuple(float(np.percentile([w[k] for w in windows], q)) for q in (25, 50, 75)) for k in STATS}


def score(medians: dict[str, float], data: dict[str, tuple[float, float, float]]) -> tuple[int, float]:
    """(statistics inside the data's IQR, summed distance of the medians from the data's in IQRs)."""
    inside, distance = 0, 0.0
    for k in STATS:
        q1, q2, q3 = data[k]
        inside += q1 <= medians[k] <= q3
        distance += abs(medians[k] - q2) / max(q3 - q1, 1e-9)
    return inside, distance


def play(model, settings: dict, samples: int, seconds: float, seed: int) -> dict[str, float]:
    from perfjam.codec.midifile import decode_events
    from perfjam.controls import requested_control
    from perfjam.generation import default_primer, generate_events
    from perfjam.model import Sampler
    from training.motif import MotifMemory

    control = requested_control(model.info.control_size)
    described = []
    for i in range(samples):
        memory = MotifMemory() if settings.get("memory") else None
        events = generate_events(model, default_primer(model.info.vocab), seconds, settings["temperature"],
                                 settings["top_p"], Sampler(seed + i), control, min_p=settings["min_p"],
                                 note_min_p=settings.get("note_min_p"), memory=memory)
        notes = [n for n in decode_events(events, model.info.vocab) if n.start_s < seconds]
        described.append(describe(notes, seconds))
    return {k: float(np.median([d[k] for d in described])) for k in STATS}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="perfjam-dynamics")
    parser.add_argument("--samples", type=int, default=12)
    parser.add_argument("--seconds", type=float, default=WINDOW_S)
    parser.add_argument("--temperatures", default="0.9,1.0,1.1")
    parser.add_argument("--min-ps", default="0,0.02,0.05,0.1")
    parser.add_argument("--top-ps", default="1,0.95")
    parser.add_argument("--note-min-ps", default="0", help="min-p among the note-ons only")
    parser.add_argument("--memories", default="0", help="0,1: without and with the motif memory")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    from perfjam.model import PerformanceModel

    model = PerformanceModel.load(args.model)
    t0 = time.perf_counter()
    data = {split: quartiles(data_windows(split)) for split in ("validation", "test")}
    rows = []
    def floats(text: str) -> list[float]:
        return [float(x) for x in text.split(",")]

    grid = [(t, m, p, n, r) for t in floats(args.temperatures) for m in floats(args.min_ps)
            for p in floats(args.top_ps) for n in floats(args.note_min_ps) for r in floats(args.memories)]
    for n, (temperature, min_p, top_p, note_min_p, memory) in enumerate(grid):
        settings = {"temperature": temperature, "min_p": min_p or None, "top_p": top_p if top_p < 1 else None,
                    "note_min_p": note_min_p or None, "memory": bool(memory)}
        medians = play(model, settings, args.samples, args.seconds, args.seed)
        inside, distance = score(medians, data["validation"])
        test_inside, _ = score(medians, data["test"])
        rows.append({**settings, "inside_validation": inside, "distance_validation": round(distance, 3),
                     "inside_test": test_inside, "medians": {k: round(v, 3) for k, v in medians.items()}})
        print(f"{n + 1}/{len(grid)} {settings}: {inside} inside (test {test_inside})", file=sys.stderr)
    rows.sort(key=lambda r: (-r["inside_validation"], r["distance_validation"]))
    emit({"model": args.model, "samples": args.samples, "seconds": args.seconds, "stats": STATS,
          "data_quartiles": {s: {k: [round(x, 3) for x in q] for k, q in d.items()} for s, d in data.items()},
          "best": rows[0], "settings": rows, "seconds_taken": round(time.perf_counter() - t0, 1)}, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
