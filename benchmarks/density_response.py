"""What a conditioned model plays when asked for each density level: the table behind
``perfjam.controls.DENSITY_RESPONSE`` (JSON).

    .venv/bin/python benchmarks/density_response.py [--model NAME|PATH] [--excerpts 40]
        [--levels 0,0.5,...,6] [--split validation] [--out FILE.json]

Each of ``--excerpts`` 6-s phrases of the split (``benchmarks/partner_data.py``) is continued for
6 s (``perfjam.generation``, as ``perfjam generate --primer``, with the app's default temperature
and note min-p) with the density input at each level (a whole level: one bin; between two: both
entries weighted) and the phrase's own pitch classes (Key follows me). Reported per level: the
notes per second *as played* (``perfjam.musicality.onset_rate``) of the continuation, median and
quartiles. Measured on the validation split: the table chooses what to ask for, so the test split
never tunes it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT))

import partner_data as data  # noqa: E402
from live_latency import emit  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="perfjam-dynamics")
    parser.add_argument("--excerpts", type=int, default=40)
    parser.add_argument("--levels", default=",".join(str(x / 2) for x in range(13)))
    parser.add_argument("--split", default="validation")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    from perfjam import musicality as mu
    from perfjam.codec.events import STEPS_PER_SECOND, EventType
    from perfjam.codec.midifile import decode_events
    from perfjam.controls import NUM_DENSITY_BINS, control_vector, density_input
    from perfjam.generation import generate_events, primer_from_notes, primer_requests
    from perfjam.model import PerformanceModel, Sampler
    from perfjam.sampling import DEFAULT_NOTE_MIN_P, DEFAULT_TEMPERATURE

    model = PerformanceModel.load(args.model)
    if not model.info.has_controls:
        print(f"density_response: {model.info.name} has no controls", file=sys.stderr)
        return 2
    vocab = model.info.vocab
    shift0 = vocab.offsets[EventType.TIME_SHIFT]
    levels = [float(x) for x in args.levels.split(",")]
    rates: dict[float, list[float]] = {level: [] for level in levels}
    for i, excerpt in enumerate(data.continuations(args.excerpts, 6.0, args.seed, args.split)):
        primer = primer_from_notes(list(excerpt.primer), vocab)
        _, histogram = primer_requests(decode_events(primer.events, vocab))
        primer_s = sum(e - shift0 + 1 for e in primer.events if shift0 <= e < shift0 + 100) / STEPS_PER_SECOND
        for level in levels:
            control = control_vector(1.0, histogram, model.info.control_size)
            control[:NUM_DENSITY_BINS] = density_input(level)
            events = generate_events(model, primer.events, 6.0, DEFAULT_TEMPERATURE, sampler=Sampler(100 + i),
                                     control=control, note_min_p=DEFAULT_NOTE_MIN_P)
            notes = [n for n in decode_events(events, vocab) if n.start_s >= primer_s - 1e-9]
            rates[level].append(mu.onset_rate(notes) or 0.0)
        print(f"{i + 1}/{args.excerpts}", file=sys.stderr)
    table = [{"level": level, "notes_per_s_median": round(float(np.median(r)), 2),
              "p25": round(float(np.percentile(r, 25)), 2), "p75": round(float(np.percentile(r, 75)), 2)}
             for level, r in rates.items()]
    emit({"model": args.model, "split": args.split, "excerpts": args.excerpts, "table": table}, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
