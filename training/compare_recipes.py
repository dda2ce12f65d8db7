"""Compare training recipes at equal budgets: train each, then score each on the whole validation split.

    python -m training.compare_recipes --data data/asap-v2 --out runs/recipes --minutes 15 \
        --parallel 2 --threads 1 \
        --recipe "2x512 grammar=--layers 2 --hidden 512 --grammar-loss" \
        --recipe "2x512 plain=--layers 2 --hidden 512"

Each ``--recipe "NAME=ARGS"`` is one ``training.train`` run in ``OUT/NAME`` with the shared budget
(``--minutes`` of wall time, or ``--tokens`` for runs of one size on a busy machine) plus its own
arguments. ``--parallel 2 --threads 1`` runs two at once on one core each, so that both share
whatever else the machine is doing. A finished run is not trained again (delete its folder to
redo it). Every run's final checkpoint is then scored by ``training.evaluate`` on the whole
validation split (plain and grammar NLL, from the zero state), and the table is written to
``OUT/results.json`` and ``OUT/results.md``.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


def parse_recipe(text: str) -> tuple[str, list[str]]:
    name, sep, args = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"a recipe is NAME=ARGS, not {text!r}")
    return name.strip(), shlex.split(args)


def folder_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in name)


def train_command(args: argparse.Namespace, run_dir: Path, extra: Sequence[str]) -> list[str]:
    command = [sys.executable, "-m", "training.train", "--data", str(args.data), "--out", str(run_dir),
               "--threads", str(args.threads), "--seed", str(args.seed), "--resume"]
    if args.minutes:
        command += ["--max-minutes", str(args.minutes)]
    if args.tokens:
        command += ["--max-tokens", str(args.tokens)]
    return command + list(extra)


def run_logged(command: Sequence[str], log_path: Path) -> int:
    with open(log_path, "a") as log:
        log.write(f"$ {shlex.join(command)}\n")
        log.flush()
        return subprocess.call(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def train_one(args: argparse.Namespace, name: str, extra: Sequence[str]) -> dict:
    run_dir = args.out / folder_name(name)
    run_dir.mkdir(parents=True, exist_ok=True)
    done = run_dir / "done.json"
    if done.exists():
        return json.loads(done.read_text())
    t0 = time.perf_counter()
    code = run_logged(train_command(args, run_dir, extra), run_dir / "train.log")
    train_s = round(time.perf_counter() - t0, 1)
    result = {"name": name, "args": list(extra), "train_exit": code, "train_s": train_s}
    if code == 0:
        done.write_text(json.dumps(result, indent=2))
    return result


def evaluate_one(args: argparse.Namespace, result: dict) -> dict:
    run_dir = args.out / folder_name(result["name"])
    scored = run_dir / "validation.json"
    checkpoint_info = read_checkpoint_info(run_dir / "last.pt")
    if not scored.exists() and "val_nll_full_grammar" in checkpoint_info:  # the trainer scored it all
        scored.write_text(json.dumps({"nll_per_event": checkpoint_info["val_nll_full"],
                                      "nll_per_event_grammar": checkpoint_info["val_nll_full_grammar"],
                                      "scored_by": "training.train (final pass over whole files)"}))
    if not scored.exists():
        command = [sys.executable, "-m", "training.evaluate", "--model", str(run_dir / "last.pt"),
                   "--data", str(args.data), "--split", "validation"]
        with open(run_dir / "evaluate.log", "w") as log:
            out = subprocess.run(command, stdout=subprocess.PIPE, stderr=log, text=True,
                                 stdin=subprocess.DEVNULL)
        if out.returncode != 0:
            return {**result, "evaluate_exit": out.returncode}
        scored.write_text(out.stdout)
    report = json.loads(scored.read_text())
    return {**result, **checkpoint_info, "validation": report}


def read_checkpoint_info(path: Path) -> dict:
    import torch  # only here: the rest of this tool drives subprocesses

    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    info = {"tokens_seen": ckpt.get("tokens_seen"), "step": ckpt.get("step"),
            "elapsed_s": round(float(ckpt.get("elapsed_s", 0.0)), 1), "config": ckpt.get("config")}
    info.update({k: v for k, v in ckpt.items() if k.startswith("val_nll")})
    return info


def _metric(report: dict, key: str):
    value = report.get(key)
    if value is None and isinstance(report.get("nll"), dict):
        value = report["nll"].get(key)
    return value


def markdown(rows: Sequence[dict], args: argparse.Namespace) -> str:
    budget = f"{args.minutes:g} min" if args.minutes else f"{args.tokens:,} tokens"
    lines = [f"Budget per run: {budget}, {args.threads} thread(s), {args.parallel} at a time; "
             f"scored on the whole validation split from the zero state.", "",
             "| recipe | train args | tokens seen | tokens/s | val NLL (grammar) | val NLL (plain) |",
             "|---|---|---|---|---|---|"]
    for r in sorted(rows, key=lambda r: _metric(r.get("validation", {}), "nll_per_event_grammar") or 9e9):
        v = r.get("validation", {})
        tokens = r.get("tokens_seen") or 0
        rate = tokens / r["elapsed_s"] if r.get("elapsed_s") else 0
        grammar, plain = _metric(v, "nll_per_event_grammar"), _metric(v, "nll_per_event")
        lines.append(f"| {r['name']} | `{shlex.join(r['args'])}` | {tokens:,} | {rate:,.0f} | "
                     f"{grammar if grammar is None else f'{grammar:.4f}'} | "
                     f"{plain if plain is None else f'{plain:.4f}'} |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--recipe", type=parse_recipe, action="append", required=True, metavar="NAME=ARGS")
    p.add_argument("--minutes", type=float, default=0.0, help="wall-time budget of each run")
    p.add_argument("--tokens", type=int, default=0, help="token budget of each run")
    p.add_argument("--parallel", type=int, default=2)
    p.add_argument("--threads", type=int, default=1, help="CPU threads per run")
    p.add_argument("--seed", type=int, default=1337)
    args = p.parse_args(argv)
    if not args.minutes and not args.tokens:
        p.error("give a budget: --minutes or --tokens")
    args.out.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(args.parallel) as pool:
        trained = list(pool.map(lambda r: train_one(args, *r), args.recipe))
        for r in trained:
            print(f"trained {r['name']}: exit {r['train_exit']} in {r['train_s']} s", file=sys.stderr)
        rows = list(pool.map(lambda r: evaluate_one(args, r), [r for r in trained if r["train_exit"] == 0]))
    (args.out / "results.json").write_text(json.dumps(rows, indent=2))
    table = markdown(rows, args)
    (args.out / "results.md").write_text(table)
    print(table)
    return 0 if len(rows) == len(args.recipe) else 1


if __name__ == "__main__":
    sys.exit(main())
