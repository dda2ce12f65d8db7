"""Encode a folder of MIDI performances into flat token files for training.

    python -m training.prepare --midi-dir ../shared/data/asap \
        --split-csv ../shared/data/asap/split.csv --out data/asap-v2

Output (see docs/ARCHITECTURE.md, "Prepared data"), for each split and vocabulary:

    {split}.{vocab}.bin          uint16 event indices of all the split's files, concatenated
    {split}.{vocab}.offsets.npy  int64 start of each file in the .bin, plus the end (n_files + 1)
    index.json                   {"format", "codec", "vocabs", "files": [{file, split, piece,
                                 events_<vocab>}], "skipped"}  (codec: perfjam.codec.events.CODEC_VERSION)

A split's files appear in its .bin/.offsets in the order they are listed in ``index.json``.
Files are encoded in parallel as ``perfjam.codec.midifile.encode_midi`` does; a corrupt or empty MIDI file
is skipped with its reason, never a crash.

Splits are by piece, so no piece is in two splits: with ``--split-csv`` (columns
``midi_performance,composer,title,split``) a piece is composer + title as listed there; without
it a piece is the file's directory relative to ``--midi-dir`` and its split comes from a hash of
that name (about 80/10/10, deterministic).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from perfjam.codec.events import CODEC_VERSION, VOCABS, encode_notes, vocab_by_name
from perfjam.codec.midifile import read_notes

SPLITS = ("train", "validation", "test")
INDEX_FILE = "index.json"
# 2: the codec follows note-seq (order within a step by unquantized start, halves rounded up,
#    pretty_midi's pairing, the pedal per instant): data of format 1 has other tokens.
FORMAT_VERSION = 2
MIDI_SUFFIXES = (".mid", ".midi")


@dataclass(frozen=True)
class Source:
    """One MIDI file to encode: its path relative to the MIDI folder, split and piece."""

    file: str  # posix path relative to midi_dir
    split: str
    piece: str


# ----------------------------------------------------------------------------- splits


def hash_split(piece: str) -> str:
    """A deterministic ~80/10/10 split from the piece name (stable across machines and runs)."""
    bucket = int.from_bytes(hashlib.sha256(piece.encode("utf-8")).digest()[:8], "big") % 100
    return "train" if bucket < 80 else "validation" if bucket < 90 else "test"


def find_midi_files(midi_dir: Path) -> list[str]:
    return sorted(
        p.relative_to(midi_dir).as_posix()
        for p in midi_dir.rglob("*")
        if p.suffix.lower() in MIDI_SUFFIXES and p.is_file()
    )


def plan_sources(midi_dir: Path, split_csv: Path | None) -> tuple[list[Source], list[dict]]:
    """Every MIDI file under ``midi_dir`` with its split and piece, and the files left out."""
    files = find_midi_files(midi_dir)
    if split_csv is None:
        sources = []
        for file in files:
            piece = Path(file).parent.as_posix()
            sources.append(Source(file, hash_split(piece), piece))
        return sources, []

    listed: dict[str, Source] = {}
    with open(split_csv, newline="") as f:
        for row in csv.DictReader(f):
            split = row["split"].strip()
            if split not in SPLITS:
                raise ValueError(f"{split_csv}: unknown split {split!r} for {row['midi_performance']}")
            file = Path(row["midi_performance"]).as_posix()
            listed[file] = Source(file, split, f"{row['composer']}/{row['title']}")
    present = set(files)
    sources = [listed[file] for file in files if file in listed]
    skipped = [{"file": f, "reason": "not listed in the split CSV"} for f in files if f not in listed]
    missing = [f for f in listed if f not in present]
    skipped += [{"file": f, "reason": "listed in the split CSV but missing"} for f in missing]
    return sources, skipped


# ----------------------------------------------------------------------------- encoding


def encode_file(path: Path, vocab_names: Sequence[str]) -> dict[str, np.ndarray] | str:
    """Event arrays (uint16) per vocabulary, or the reason the file cannot be used.

    The same as ``perfjam.codec.midifile.encode_midi`` per vocabulary, reading the notes only once.
    """
    try:
        notes = read_notes(path)
        encoded = {n: np.asarray(encode_notes(notes, vocab_by_name(n)), np.uint16) for n in vocab_names}
    except Exception as e:  # any failure to parse a file is a reason to skip it, never a crash
        return f"unreadable MIDI: {type(e).__name__}: {e}"
    if any(len(events) < 2 for events in encoded.values()):
        return "no notes"
    return encoded


def _encode_job(job: tuple[Path, tuple[str, ...]]) -> dict[str, np.ndarray] | str:
    return encode_file(*job)


def encode_all(
    midi_dir: Path, sources: Sequence[Source], vocab_names: Sequence[str], workers: int
) -> list[dict[str, np.ndarray] | str]:
    """Encode every source (in parallel on ``workers`` processes), results in source order."""
    jobs = [(midi_dir / s.file, tuple(vocab_names)) for s in sources]
    bar = dict(total=len(jobs), desc="encoding", unit="file", dynamic_ncols=True)
    if workers <= 1:
        return [_encode_job(job) for job in tqdm(jobs, **bar)]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return list(tqdm(pool.map(_encode_job, jobs, chunksize=2), **bar))


# ----------------------------------------------------------------------------- writing and loading


def write_prepared(
    out_dir: Path,
    sources: Sequence[Source],
    results: Sequence[dict[str, np.ndarray] | str],
    vocab_names: Sequence[str],
    skipped: list[dict],
) -> dict:
    """Write the token files and index.json (last, so a complete index means complete data)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files: list[dict] = []
    tokens: dict[tuple[str, str], list[np.ndarray]] = {(s, v): [] for s in SPLITS for v in vocab_names}
    for source, result in zip(sources, results, strict=True):
        if isinstance(result, str):
            skipped.append({"file": source.file, "reason": result})
            continue
        entry = {"file": source.file, "split": source.split, "piece": source.piece}
        for name in vocab_names:
            entry[f"events_{name}"] = len(result[name])
            tokens[source.split, name].append(result[name])
        files.append(entry)

    for (split, name), arrays in tokens.items():
        lengths = np.array([len(a) for a in arrays], np.int64)
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        flat = np.concatenate(arrays) if arrays else np.zeros(0, np.uint16)
        flat.astype(np.uint16).tofile(out_dir / f"{split}.{name}.bin")
        np.save(out_dir / f"{split}.{name}.offsets.npy", offsets)

    index = {
        "format": FORMAT_VERSION,
        "codec": CODEC_VERSION,
        "vocabs": list(vocab_names),
        "splits": list(SPLITS),
        "files": files,
        "skipped": sorted(skipped, key=lambda s: s["file"]),
    }
    tmp = out_dir / (INDEX_FILE + ".tmp")
    tmp.write_text(json.dumps(index, indent=1))
    os.replace(tmp, out_dir / INDEX_FILE)
    return index


def load_index(data_dir: str | Path) -> dict:
    path = Path(data_dir) / INDEX_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: run `python -m training.prepare` first")
    return json.loads(path.read_text())


def split_entries(index: dict, split: str) -> list[dict]:
    """The index entries of one split, in the order of that split's token files."""
    return [f for f in index["files"] if f["split"] == split]


def load_prepared(data_dir: str | Path, split: str, vocab: str) -> tuple[np.ndarray, np.ndarray]:
    """(tokens, offsets): a read-only uint16 memmap of the split and the int64 file offsets.

    File ``i`` of the split is ``tokens[offsets[i]:offsets[i + 1]]``.
    """
    data_dir = Path(data_dir)
    index = load_index(data_dir)
    if vocab not in index["vocabs"]:
        raise ValueError(f"{data_dir} has vocabularies {index['vocabs']}, not {vocab!r}")
    bin_path = data_dir / f"{split}.{vocab}.bin"
    offsets = np.load(data_dir / f"{split}.{vocab}.offsets.npy")
    if bin_path.stat().st_size == 0:
        return np.zeros(0, np.uint16), offsets
    tokens = np.memmap(bin_path, dtype=np.uint16, mode="r")
    if len(tokens) != offsets[-1]:
        raise ValueError(f"{bin_path}: {len(tokens)} tokens but the offsets end at {offsets[-1]}")
    return tokens, offsets


def split_files(tokens: np.ndarray, offsets: np.ndarray) -> list[np.ndarray]:
    """One token array per file."""
    return [tokens[offsets[i] : offsets[i + 1]] for i in range(len(offsets) - 1)]


# ----------------------------------------------------------------------------- CLI


def summarize(index: dict, wall_s: float) -> str:
    lines = [f"prepared {len(index['files'])} files in {wall_s:.1f} s"]
    for split in SPLITS:
        entries = split_entries(index, split)
        pieces = len({e["piece"] for e in entries})
        counts = ", ".join(f"{sum(e[f'events_{v}'] for e in entries):,} {v}" for v in index["vocabs"])
        lines.append(f"  {split:<10} {len(entries):4d} files {pieces:4d} pieces  events: {counts}")
    lines.append(f"  skipped    {len(index['skipped']):4d} files")
    for s in index["skipped"]:
        lines.append(f"    {s['file']}: {s['reason']}")
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--midi-dir", type=Path, required=True, help="folder searched recursively for .mid/.midi")
    p.add_argument("--split-csv", type=Path, default=None,
                   help="CSV with midi_performance,composer,title,split; default: hash split by directory")
    p.add_argument("--out", type=Path, required=True, help="output folder, e.g. data/asap-v2")
    p.add_argument("--vocab", nargs="+", choices=sorted(VOCABS), default=["dynamics", "nodynamics"])
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="encoding processes")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict:
    args = parse_args(argv)
    if not args.midi_dir.is_dir():
        raise SystemExit(f"--midi-dir {args.midi_dir} is not a directory")
    t0 = time.perf_counter()
    vocab_names = list(dict.fromkeys(args.vocab))
    sources, skipped = plan_sources(args.midi_dir, args.split_csv)
    results = encode_all(args.midi_dir, sources, vocab_names, args.workers)
    index = write_prepared(args.out, sources, results, vocab_names, skipped)
    print(summarize(index, time.perf_counter() - t0))
    return index


if __name__ == "__main__":
    main()
