"""Check every file of a data set against the event grammar (``perfjam.codec.grammar``).

    python -m training.check_grammar --data data/asap-v2 [--vocab dynamics nodynamics] [--method both]
    python -m training.check_grammar --midi-dir ../shared/data/asap --split-csv ../shared/data/asap/split.csv

Each file is a whole performance, so it is checked from the grammar's known (zero) start. The
``vectorised`` method scores every event against ``sequence_masks`` (fast); ``incremental`` feeds
every event to a ``GrammarState`` (the engine's path, slower); ``both`` runs the two and also
checks that they agree. Prints one JSON object: per vocabulary and split the files, events,
violations (must be 0), events/s, and the first few violations with their context. Exit status
1 when any file has a violation. Progress (tqdm) goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

from perfjam.codec.events import VOCABS, Vocab, encode_notes, vocab_by_name
from perfjam.codec.grammar import first_mask, sequence_masks, violations

METHODS = ("vectorised", "incremental", "both")
EXAMPLES = 5  # violations reported in full per vocabulary and split
CONTEXT = 6  # events shown before a violation


def vectorised_violations(events: np.ndarray, vocab: Vocab) -> list[int]:
    """Positions of events the grammar excludes, from ``sequence_masks`` (known start)."""
    events = np.asarray(events, np.int64)
    if not len(events):
        return []
    ok = np.empty(len(events), bool)
    ok[0] = first_mask(vocab)[events[0]]
    if len(events) > 1:
        masks = sequence_masks(events[None, :-1], vocab, known_start=True)[0]
        ok[1:] = masks[np.arange(len(events) - 1), events[1:]]
    return np.flatnonzero(~ok).tolist()


def file_violations(events: np.ndarray, vocab: Vocab, method: str) -> list[int]:
    if method == "vectorised":
        return vectorised_violations(events, vocab)
    found = violations(events, vocab, known_start=True)
    if method == "both":
        other = vectorised_violations(events, vocab)
        if other != found:
            raise AssertionError(f"GrammarState and sequence_masks disagree: {found[:5]} vs {other[:5]}")
    return found


def _describe(events: np.ndarray, vocab: Vocab, position: int) -> str:
    start = max(0, position - CONTEXT)
    before = " ".join(vocab.describe(int(e)) for e in events[start:position])
    return f"{before} >>{vocab.describe(int(events[position]))}<<"


def prepared_files(data_dir: Path, vocab: Vocab) -> Iterator[tuple[str, str, np.ndarray]]:
    """(split, file name, events) of every file of a prepared data directory."""
    from training.prepare import load_index, load_prepared, split_entries, split_files

    index = load_index(data_dir)
    for split in index["splits"]:
        entries = split_entries(index, split)
        tokens, offsets = load_prepared(data_dir, split, vocab.name)
        for entry, events in zip(entries, split_files(tokens, offsets), strict=True):
            yield split, entry["file"], np.asarray(events, np.int64)


def planned_midi_files(midi_dir: Path, split_csv: Path | None) -> list[tuple[str, str]]:
    """(split, file name) of every MIDI file under ``midi_dir`` (split "all" without a CSV)."""
    from training.prepare import find_midi_files, plan_sources

    if split_csv is not None:
        return [(s.split, s.file) for s in plan_sources(midi_dir, split_csv)[0]]
    return [("all", f) for f in find_midi_files(midi_dir)]


def midi_files(midi_dir: Path, planned: Sequence[tuple[str, str]],
               vocab: Vocab) -> Iterator[tuple[str, str, np.ndarray]]:
    """(split, file name, events) of the planned MIDI files (encoded here; unreadable ones skipped)."""
    from perfjam.codec.midifile import read_notes

    for split, name in planned:
        try:
            events = encode_notes(read_notes(midi_dir / name), vocab)
        except Exception as exc:  # as training.prepare: a corrupt file is skipped, not a crash
            print(f"check_grammar: skipping {name}: {type(exc).__name__}: {exc}", file=sys.stderr)
            continue
        yield split, name, np.asarray(events, np.int64)


def check(files: Iterator[tuple[str, str, np.ndarray]], vocab: Vocab, method: str, total: int | None) -> dict:
    """Per split: files, events, violations, events/s and a few examples."""
    splits: dict[str, dict] = {}
    t0 = time.perf_counter()
    for split, name, events in tqdm(files, total=total, desc=f"grammar {vocab.name}", unit="file",
                                    file=sys.stderr, dynamic_ncols=True):
        row = splits.setdefault(split, {"files": 0, "events": 0, "violations": 0, "files_with_violations": 0,
                                        "seconds": 0.0, "examples": []})
        start = time.perf_counter()
        found = file_violations(events, vocab, method)
        row["seconds"] += time.perf_counter() - start
        row["files"] += 1
        row["events"] += len(events)
        row["violations"] += len(found)
        row["files_with_violations"] += bool(found)
        for position in found[: max(0, EXAMPLES - len(row["examples"]))]:
            row["examples"].append({"file": name, "position": position,
                                    "context": _describe(events, vocab, position)})
    for row in splits.values():
        row["events_per_s"] = round(row["events"] / row["seconds"]) if row["seconds"] > 0 else None
        row["seconds"] = round(row["seconds"], 2)
    return {"splits": splits, "violations": sum(r["violations"] for r in splits.values()),
            "wall_s": round(time.perf_counter() - t0, 2)}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m training.check_grammar", description=__doc__.splitlines()[0])
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", type=Path, help="a prepared data directory (training.prepare)")
    source.add_argument("--midi-dir", type=Path, help="a folder of MIDI files (encoded here)")
    p.add_argument("--split-csv", type=Path, help="with --midi-dir: the split CSV")
    p.add_argument("--vocab", nargs="+", default=list(VOCABS), choices=list(VOCABS))
    p.add_argument("--method", default="vectorised", choices=METHODS)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    report: dict = {"source": str(args.data or args.midi_dir), "method": args.method, "vocabs": {}}
    try:
        for name in args.vocab:
            vocab = vocab_by_name(name)
            if args.data is not None:
                from training.prepare import load_index

                index = load_index(args.data)
                if name not in index["vocabs"]:
                    print(f"check_grammar: {args.data} has no {name} tokens; skipped", file=sys.stderr)
                    continue
                files, total = prepared_files(args.data, vocab), len(index["files"])
            else:
                planned = planned_midi_files(args.midi_dir, args.split_csv)
                files, total = midi_files(args.midi_dir, planned, vocab), len(planned)
            report["vocabs"][name] = check(files, vocab, args.method, total)
    except (OSError, ValueError) as exc:
        print(f"check_grammar: {exc}", file=sys.stderr)
        return 2
    report["violations"] = sum(v["violations"] for v in report["vocabs"].values())
    print(json.dumps(report, indent=2))
    return 1 if report["violations"] else 0


if __name__ == "__main__":
    sys.exit(main())
