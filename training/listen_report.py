"""The listening report's text: ``summary.md`` and the verdict ``python -m training.listen`` prints.

Both read the summary ``training.listen`` writes to ``summary.json`` (see its docstring and
``training.sample_stats`` for the fields).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from perfjam.stats import LONG_NOTE_S
from training.sample_stats import (
    FORCED_RELEASE_S,
    HEADLINE,
    PASS_OVERLAP,
    REPEAT_PITCHES,
    REPEAT_S,
    SILENCE_S,
    TRILL_ALTERNATIONS,
)


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
    return "–" if value is None else str(value)


def _table(header: Sequence[str], rows: Sequence[Sequence]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in rows] + [""]


def _passes(row: dict) -> str:
    return "–" if "passes" not in row else ("yes" if row["passes"] else "**no**")


def _forced(s: dict) -> str:
    f = s["forced_release"]
    share = "" if f["share"] is None else f" ({100 * f['share']:.2f} %)"
    return f"{f['notes']} of {f['of']} notes held to the forced release (≥ {f['at_least_s']:g} s){share}"


def _verdict(s: dict) -> str:
    return "passes" if s["passes"] else "does not pass: " + "; ".join(s["failed"])


def headline_lines(summary: dict) -> list[str]:
    """Per model and sample set: the verdict and the headline statistics (what ``main`` prints)."""
    lines = []
    for m in summary["models"]:
        for s in m["sets"]:
            heads = [(key, s["comparison"][key]) for key in HEADLINE]
            rows = [(k, r.get("data_p5"), r.get("data_p95"), r["median"], r.get("overlap"), _passes(r))
                    for k, r in heads]
            lines += [f"{m['model']} · {s['label']}: {_verdict(s)}", ""]
            lines += _table(("statistic", "data p5", "data p95", "samples median", "overlap", "passes"), rows)
            lines += [_forced(s), ""]
    return lines


def write_markdown(summary: dict, path: Path) -> Path:
    data, st = summary["data"], summary["settings"]
    lines = ["# Listening report", "",
             f"{st['samples']} samples × {st['seconds']:g} s at temperature {st['temperature']:g}, seeds "
             f"from {st['seed']}; data: {st['seconds']:g}-s segments of `{data['dir']}` ({data['split']})"
             + (f" – **{data['error']}**" if data.get("error") else "") + ".", "",
             "Overlap: the area shared by the samples' and the data's histograms (1: the same, 0: "
             "disjoint), per segment or per note (all notes pooled); 'perfect model': the overlap of "
             f"as many random data segments. Passes: samples median in the data's 5–95 % and overlap ≥ "
             f"{PASS_OVERLAP:g}. A set passes when the headline statistics ({', '.join(HEADLINE)}) do and "
             "no sample has a repetition, a silence or a forced release.", "",
             f"Broken: trills > {TRILL_ALTERNATIONS} alternations, repetitions of ≤ {REPEAT_PITCHES} pitches "
             f"> {REPEAT_S:g} s, silences > {SILENCE_S:g} s, forced releases ≥ {FORCED_RELEASE_S:g} s, "
             f"long notes > {LONG_NOTE_S:g} s, unclosed notes after the release tail; stuck = long + "
             "unclosed.", ""]
    for m in summary["models"]:
        int8 = " (int8)" if m["quantized"] else ""
        lines += [f"## {m['model']}{int8}", "", f"`{m['path']}` · {m['vocab']} · {m['layers']}×{m['hidden']}"
                  f" · controls {m['control_size']} · val NLL {_fmt(m['val_nll'])} · test NLL "
                  f"{_fmt(m['test_nll'])} · {m['data_segments']} data segments", ""]
        for s in m["sets"]:
            control = "none" if s["control_vector"] is None else ", ".join(
                f"{k}={v}" for k, v in s["control"].items())
            lines += [f"### {s['label']}", "",
                      f"Control: {control}. **The set {_verdict(s)}.** {_forced(s)}.", ""]
            rows = [(f"**{key}**" if key in HEADLINE else key, r["per"], r.get("data_p5"),
                     r.get("data_p50"), r.get("data_p95"), r["median"], r.get("overlap"),
                     r.get("overlap_if_perfect"), _passes(r),
                     ", ".join(_fmt(v) for v in r["samples"]),
                     f"⚠ outside ({r['outside']}/{len(r['samples'])})" if r.get("flag") else "")
                    for key, r in s["comparison"].items()]
            lines += _table(("statistic", "per", "data p5", "data median", "data p95", "samples median",
                             "overlap", "perfect model", "passes", "per sample", ""), rows)
            rows = [(c, f"{r['samples']}/{r['of']}" + (" ⚠" if r["samples"] else ""),
                     None if r["data_rate"] is None else f"{100 * r['data_rate']:.1f} %")
                    for c, r in s["checks"].items()]
            lines += _table(("check", "samples with it", "data segments with it"), rows)
            for r in s["samples"]:
                name, broken = r["name"], ", ".join(r["broken"]) or "nothing broken"
                lines += [f"**{name}** ([mid]({name}.mid), [wav]({name}.wav)): "
                          f"{r['stats']['notes_per_s']:.1f} notes/s, {broken}", "",
                          f"![{name}]({name}.png)", ""]
        if "density_sweep" in m:
            verdict = "rises at every step" if m["density_monotonic"] else "does NOT rise at every step"
            rows = [(r["requested"], "[{:g}, {:g})".format(*r["bin"]), r["achieved"],
                     ", ".join(f"{a:.2f}" for a in r["per_sample"])) for r in m["density_sweep"]]
            lines += ["### Density sweep", "", f"Achieved notes/s {verdict}.", ""]
            lines += _table(("requested notes/s", "bin", "achieved notes/s", "per sample"), rows)
            rows = [(r["key"], r["scale"], r["notes"], r["in_scale"],
                     ", ".join(f"{k}: {_fmt(v)}" for k, v in r["in_other_keys"].items()), r["chance"])
                    for r in m["scale"]]
            lines += _table(("key", "scale", "notes", "in its scale", "in the other keys' scales", "chance"),
                            rows)
    path.write_text("\n".join(lines))
    return path
