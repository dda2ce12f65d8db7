"""How closely perfjam's tokens agree with note-seq's encoding of the same real performances.

    python tools/noteseq_agreement.py --files 40 [--vocab dynamics] [--split test]
           [--encoders perfjam,noteseq,reference] [--chunk 0]

Each file is encoded by every named encoder:

* ``perfjam``: ``perfjam.codec.midifile.encode_midi``;
* ``noteseq``: the real note-seq (``pip install note-seq``; imported only inside this tool, the
  project never depends on it): ``midi_file_to_note_sequence`` -> ``apply_sustain_control_changes``
  -> ``quantize_note_sequence_absolute(100)`` -> ``Performance(num_velocity_bins=32 or 0,
  max_shift_steps=100)`` -> ``PerformanceOneHotEncoding.encode_event``;
* ``reference``: ``tests/noteseq_reference.py``, the test-only stand-in for note-seq;
* ``arrival``: perfjam's pedal folding with every action written in arrival order (a live
  encoder that would not hold the events of a step until it is over).

For every pair of encoders it prints (JSON on stdout) the mean similarity, the number of files
with identical tokens and the worst files. Similarity of two token lists a, b is
``difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()`` (2 * matches / (len a + len b)) on
the full lists, or with ``--chunk N`` the mean of that ratio over aligned N-token chunks (faster,
for long files). Files are every k-th row of the split CSV (optionally one split only), so the
same ``--files`` always picks the same files.

note-seq does not install with every Python; a throwaway venv outside the repo works:
``python3 -m venv /tmp/nsvenv && /tmp/nsvenv/bin/pip install note-seq mido``, then run this tool
with that interpreter (it puts the repo root on ``sys.path`` itself).
"""

from __future__ import annotations

import argparse
import csv
import difflib
import itertools
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

DEFAULT_ASAP = ROOT.parent / "shared" / "data" / "asap"

Encoder = Callable[[Path, bool], list[int]]


def perfjam_tokens(path: Path, dynamics: bool) -> list[int]:
    from perfjam.codec.events import VOCAB_DYNAMICS, VOCAB_NO_DYNAMICS
    from perfjam.codec.midifile import encode_midi

    return encode_midi(path, VOCAB_DYNAMICS if dynamics else VOCAB_NO_DYNAMICS)


def arrival_tokens(path: Path, dynamics: bool) -> list[int]:
    """perfjam's folding, but every action written as it comes (arrival order, as a live encoder
    that did not hold a step would): how much holding each step matters."""
    from perfjam.codec.events import VOCAB_DYNAMICS, VOCAB_NO_DYNAMICS, EventWriter, seconds_to_step
    from perfjam.codec.midifile import timed_messages
    from perfjam.codec.pedal import PedalFolder

    writer = EventWriter(VOCAB_DYNAMICS if dynamics else VOCAB_NO_DYNAMICS)
    folders: dict[tuple[int, int], PedalFolder] = {}
    timed = []
    for time_s, track, data in timed_messages(path):
        folder = folders.setdefault((track, data[0] & 0x0F), PedalFolder())
        timed += folder.take(time_s, data)
    for folder in folders.values():
        timed += folder.finish()
    end_s = max((f.last_event_s for f in folders.values() if f.has_notes and f.last_event_s is not None),
                default=0.0)
    for folder in folders.values():
        timed += folder.release_all(end_s)
    timed.sort(key=lambda t: t.time_s)  # stable: one instant keeps the folder's order
    events: list[int] = []
    for t in timed:
        step = seconds_to_step(t.time_s)
        if t.is_on:
            events += writer.note_on(step, t.pitch, t.velocity)
        else:
            events += writer.note_off(max(step, seconds_to_step(t.note_start_s) + 1), t.pitch)
    return events


def noteseq_tokens(path: Path, dynamics: bool) -> list[int]:
    import note_seq
    from note_seq import performance_lib, sequences_lib
    from note_seq.performance_encoder_decoder import PerformanceOneHotEncoding

    bins = 32 if dynamics else 0
    sequence = sequences_lib.apply_sustain_control_changes(note_seq.midi_file_to_note_sequence(str(path)))
    quantized = sequences_lib.quantize_note_sequence_absolute(sequence, 100)
    performance = performance_lib.Performance(quantized, num_velocity_bins=bins, max_shift_steps=100)
    encoding = PerformanceOneHotEncoding(num_velocity_bins=bins)
    return [encoding.encode_event(event) for event in performance]


def reference_tokens(path: Path, dynamics: bool) -> list[int]:
    import noteseq_reference

    return noteseq_reference.encode_file(path, dynamics)


ENCODERS: dict[str, Encoder] = {"perfjam": perfjam_tokens, "noteseq": noteseq_tokens,
                                "reference": reference_tokens, "arrival": arrival_tokens}


def similarity(a: list[int], b: list[int], chunk: int = 0) -> float:
    if not chunk:
        return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()
    ratios = [
        difflib.SequenceMatcher(None, a[i:i + chunk], b[i:i + chunk], autojunk=False).ratio()
        for i in range(0, max(len(a), len(b)), chunk)
    ]
    return sum(ratios) / len(ratios) if ratios else 1.0


def pick_files(asap: Path, count: int, split: str | None) -> list[Path]:
    with open(asap / "split.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if split is None or r["split"] == split]
    rows = [r for r in rows if (asap / r["midi_performance"]).is_file()]
    step = max(1, len(rows) // max(1, count))
    return [asap / r["midi_performance"] for r in rows[::step][:count]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--asap", type=Path, default=DEFAULT_ASAP)
    parser.add_argument("--files", type=int, default=20)
    parser.add_argument("--split", choices=("train", "validation", "test"))
    parser.add_argument("--vocab", choices=("dynamics", "nodynamics"), default="dynamics")
    parser.add_argument("--encoders", default="perfjam,noteseq",
                        help=f"comma-separated, from {', '.join(ENCODERS)}")
    parser.add_argument("--chunk", type=int, default=0, help="0: whole files; N: aligned N-token chunks")
    parser.add_argument("--worst", type=int, default=3, help="list this many least similar files per pair")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.encoders.split(",") if n.strip()]
    unknown = [n for n in names if n not in ENCODERS]
    if unknown or len(names) < 2:
        parser.error(f"need two or more encoders from {', '.join(ENCODERS)} (got {args.encoders!r})")
    files = pick_files(args.asap, args.files, args.split)
    dynamics = args.vocab == "dynamics"
    started = time.perf_counter()
    tokens = {name: [ENCODERS[name](path, dynamics) for path in files] for name in names}
    pairs = {}
    for a, b in itertools.combinations(names, 2):
        scores = [similarity(x, y, args.chunk) for x, y in zip(tokens[a], tokens[b], strict=True)]
        ranked = sorted(zip(scores, files, strict=True))[: args.worst]
        pairs[f"{a}~{b}"] = {
            "mean_similarity": round(sum(scores) / len(scores), 5) if scores else None,
            "min_similarity": round(min(scores), 5) if scores else None,
            "identical_files": sum(x == y for x, y in zip(tokens[a], tokens[b], strict=True)),
            "worst": [{"file": p.relative_to(args.asap).as_posix(), "similarity": round(s, 5)}
                      for s, p in ranked],
        }
    print(json.dumps({
        "files": len(files),
        "vocab": args.vocab,
        "split": args.split or "all",
        "similarity": "difflib.SequenceMatcher(autojunk=False).ratio() on "
                      + (f"aligned {args.chunk}-token chunks" if args.chunk else "whole token lists"),
        "tokens": {name: sum(map(len, t)) for name, t in tokens.items()},
        "pairs": pairs,
        "seconds": round(time.perf_counter() - started, 1),
    }, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
