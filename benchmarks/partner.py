"""The AI as a musical partner, judged as a pianist hears it, on real performances (JSON).

    tools/with-jack.sh .venv/bin/python benchmarks/partner.py [--parts call,duet,offline]
        [--phrases 24] [--passages 3] [--passage-s 60] [--continuations 40] [--speed 1]
        [--model NAME|PATH] [--config '{"answer_cc": 67}'] [--listen DIR] [--out FILE.json]

Phrases and passages of the test split (``benchmarks/partner_data.py``) are played, as
recorded (notes, the sustain pedal moving every ~20 ms, the una corda, chords), into the live
engine's MIDI input through a real JACK port; what the AI plays is taken from the engine's note
reports (what it sent, at the velocity it sent). The engine runs as the window starts it
(``EngineConfig`` defaults, ``--config`` for changes).

* **call** (one engine per phrase): AI notes begun inside the phrase (target 0), those within
  0.5 s of an una corda press (triggers, 0), then the answer against the phrase: its delay,
  density as played (``perfjam.musicality.onset_rate``; target within x1.5 of the phrase's for
  80 % of phrases), median velocity (within +-12), pitch-class correlation (>= 0.45) and key
  (same key >= 25 %), and how it ends: the notes released together at its very end, and those of
  them begun in the 300 ms before (cut mid-gesture: 2+ released together, one begun that late).
* **duet** (``--passage-s`` of the most pedalled performances, then ``--after-s`` of silence):
  notes/s of each (target: the AI's <= the pianist's), notes sounding on average, pitch ranges,
  clash rate (``perfjam.musicality.clash_rate``) against the piece's own (<= x1.2), AI notes held
  to the note-length limit (0) and the time until the AI is silent after the pianist stops (<= 4 s).
* **offline** (``perfjam generate --primer``'s path, ``perfjam.generation``): a 6-s excerpt
  continued for 6 s, against what the pianist played next and a stretch of another piece:
  pitch-class correlation, same key, density ratio, recurring figures.

``--listen DIR`` also writes each phrase + answer and passage + duet as a two-track MIDI file,
its WAV (FluidSynth) and a piano roll (PNG, needs matplotlib).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT))

import partner_data as data  # noqa: E402
from live_latency import emit  # noqa: E402

from perfjam import musicality as mu  # noqa: E402
from perfjam.codec.events import Note  # noqa: E402

TARGETS = {
    "call.ai_notes_in_phrase": 0, "call.soft_pedal_triggers": 0, "call.cut_mid_gesture": 0,
    "call.density_within_1.5x_share": 0.8, "call.velocity_within_12_share": 0.8,
    "call.pitch_class_correlation_mean": 0.45, "call.same_key_share": 0.25,
    "duet.ai_to_human_notes_per_s": 1.0, "duet.clash_to_own_ratio": 1.2, "duet.held_to_limit": 0,
    "duet.silent_after_stop_s": 4.0,
    "offline.pitch_class_correlation_mean": 0.45, "offline.same_key_share": 0.25,
}
ENDING_WINDOW_S = 0.3  # notes begun this close to a forced ending were cut mid-gesture
TOGETHER_S = 0.01  # note-offs this close are "released together"


# --- the live engine, played through JACK ------------------------------------------------------------
class Player:
    """A keyboard (virtual JACK output) playing excerpts into engines, one engine at a time."""

    def __init__(self, model: str, config: dict, speed: float) -> None:
        from perfjam import midi_io

        self.model, self.config, self.speed = model, config, speed
        self.keyboard = midi_io.MidiOutput("keys", api="jack", virtual=True, client_name="partner-kb")
        self.port = "partner-kb:keys"

    def close(self) -> None:
        self.keyboard.panic()
        self.keyboard.close()

    def play(self, excerpt: data.Excerpt, mode: str, seed: int, after_s: float) -> tuple[list[Note], dict]:
        """Play ``excerpt`` into a fresh engine in ``mode``; then wait ``after_s`` (music time) or,
        in call mode, until the answer is over. Returns the AI's notes (music time from the
        excerpt's start) and facts about the engine."""
        from perfjam.engine import Engine, EngineConfig, ErrorReport, MidiSettings, NoteReport

        engine = Engine(self.model, EngineConfig(**{"mode": mode, "seed": seed, "speed": self.speed,
                                                    **self.config}),
                        midi=MidiSettings(api="jack", input_name=self.port))
        engine.start()
        reports: list = []
        try:
            deadline = time.monotonic() + 10
            while engine.status().midi_in_state != "connected" and time.monotonic() < deadline:
                time.sleep(0.02)
            t0 = time.perf_counter() + 0.1
            for time_s, message in excerpt.messages:
                due = t0 + time_s / self.speed
                while (wait := due - time.perf_counter()) > 0:
                    time.sleep(min(wait, 0.002))
                self.keyboard.send(message)
            end = t0 + excerpt.end_s / self.speed
            limit = end + after_s / self.speed
            answered = False
            while time.perf_counter() < limit:
                time.sleep(0.05)
                reports += engine.drain_reports()
                if mode == "call":
                    answered = answered or any(isinstance(r, NoteReport) and r.source == "ai"
                                               and r.time_s >= end for r in reports)
                    if answered and engine.status().state == "listening" and not engine.query(
                            lambda loop: bool(loop.outlets.ai_open)):
                        break
            stats = engine.stats()
            facts = {"max_note_s": engine.query(lambda loop: loop.stream.max_note_steps / 100.0),
                     "safety_release_s": engine.config.max_note_s,
                     "ai_released_idle": stats.get("ai_released_idle"),
                     "model_step_ms": stats["model_step_ms"], "late_notes": stats["late_notes"]}
        finally:
            engine.stop()
        reports += engine.drain_reports()
        facts["errors"] = [r.message for r in reports if isinstance(r, ErrorReport) and r.level == "error"]
        ai = _notes([r for r in reports if isinstance(r, NoteReport) and r.source == "ai"], t0, self.speed)
        return ai, facts


def _notes(reports, t0: float, speed: float) -> list[Note]:
    """NoteReports -> notes in music seconds from ``t0`` (a note still open ends at the last report)."""
    opened: dict[int, tuple[float, int]] = {}
    notes: list[Note] = []
    last_s = 0.0
    for r in sorted(reports, key=lambda r: (r.time_s, r.is_on)):
        t = (r.time_s - t0) * speed
        last_s = max(last_s, t)
        if r.is_on:
            if r.pitch in opened:
                start, velocity = opened.pop(r.pitch)
                notes.append(Note(r.pitch, velocity, start, t))
            opened[r.pitch] = (t, r.velocity)
        elif r.pitch in opened:
            start, velocity = opened.pop(r.pitch)
            notes.append(Note(r.pitch, velocity, start, t))
    notes += [Note(p, v, s, last_s) for p, (s, v) in opened.items()]
    return sorted(notes, key=lambda n: (n.start_s, n.pitch))


# --- figures ------------------------------------------------------------------------------------------
def _round(value, digits: int = 3):
    return None if value is None else round(float(value), digits)


def ending(answer: list[Note]) -> dict:
    """How an answer ends: the notes released together at its very end (within ``TOGETHER_S``),
    and how many of those had begun in the ``ENDING_WINDOW_S`` before: cut mid-gesture when two
    or more end together and one of them had only just begun."""
    if not answer:
        return {"released_together": 0, "begun_just_before": 0, "cut_mid_gesture": False}
    end_s = max(n.end_s for n in answer)
    together = [n for n in answer if end_s - n.end_s <= TOGETHER_S]
    cut = [n for n in together if end_s - n.start_s <= ENDING_WINDOW_S]
    return {"released_together": len(together), "begun_just_before": len(cut),
            "cut_mid_gesture": len(together) >= 2 and len(cut) >= 1}


def una_corda_presses(messages) -> list[float]:
    """When the soft pedal (CC67) goes down (a value crossing 64 upwards)."""
    presses, down = [], False
    for t, d in messages:
        if d[0] == 0xB0 and d[1] == 67:
            if d[2] >= 64 and not down:
                presses.append(t)
            down = d[2] >= 64
    return presses


def call_figures(phrase: data.Excerpt, ai: list[Note]) -> dict:
    inside = [n for n in ai if n.start_s < phrase.end_s]
    answer = [n for n in ai if n.start_s >= phrase.end_s]
    presses = una_corda_presses(phrase.messages)
    triggered = sum(1 for n in inside if any(0 <= n.start_s - t <= 0.5 for t in presses))
    phrase_rate, answer_rate = mu.onset_rate(phrase.notes), mu.onset_rate(answer)
    phrase_velocity, answer_velocity = mu.median_velocity(phrase.notes), mu.median_velocity(answer)
    key_phrase, key_answer = mu.estimate_key(phrase.notes), mu.estimate_key(answer)
    return {
        "source": phrase.source, "start_s": round(phrase.start_s, 2), "length_s": round(phrase.end_s, 2),
        "phrase_notes": len(phrase.notes), "una_corda_presses": len(presses),
        "ai_notes_in_phrase": len(inside), "soft_pedal_triggers": triggered,
        "answer_notes": len(answer),
        "delay_s": _round(answer[0].start_s - phrase.end_s) if answer else None,
        "answer_length_s": _round(max(n.end_s for n in answer) - answer[0].start_s) if answer else None,
        "phrase_notes_per_s": _round(phrase_rate, 2), "answer_notes_per_s": _round(answer_rate, 2),
        "density_ratio": _round(answer_rate / phrase_rate) if answer_rate and phrase_rate else None,
        "phrase_velocity": phrase_velocity, "answer_velocity": answer_velocity,
        "velocity_difference": None if answer_velocity is None else answer_velocity - phrase_velocity,
        "pitch_class_correlation": _round(mu.pitch_class_correlation(phrase.notes, answer)),
        "phrase_key": mu.key_name(key_phrase), "answer_key": mu.key_name(key_answer),
        "same_key": key_phrase is not None and key_phrase == key_answer,
        **ending(answer),
    }


def call_summary(rows: list[dict]) -> dict:
    answered = [r for r in rows if r["answer_notes"]]
    ratios = [r["density_ratio"] for r in answered if r["density_ratio"] is not None]
    differences = [r["velocity_difference"] for r in answered]
    return {
        "phrases": len(rows), "answered": len(answered),
        "ai_notes_in_phrase": sum(r["ai_notes_in_phrase"] for r in rows),
        "phrases_with_ai_notes_inside": sum(1 for r in rows if r["ai_notes_in_phrase"]),
        "una_corda_presses": sum(r["una_corda_presses"] for r in rows),
        "soft_pedal_triggers": sum(r["soft_pedal_triggers"] for r in rows),
        "delay_s_median": _round(np.median([r["delay_s"] for r in answered])) if answered else None,
        "density_ratio_median": _round(np.median(ratios)) if ratios else None,
        "density_within_1.5x_share": _round(sum(1 / 1.5 <= x <= 1.5 for x in ratios) / max(1, len(rows))),
        "answers_busier_than_phrase": sum(x > 1 for x in ratios),
        "velocity_difference_median": _round(np.median(differences)) if differences else None,
        "velocity_within_12_share": _round(sum(abs(d) <= 12 for d in differences) / max(1, len(rows))),
        "answers_louder_than_phrase": sum(d > 0 for d in differences),
        "pitch_class_correlation_mean": _round(np.mean([r["pitch_class_correlation"] for r in answered]))
        if answered else None,
        "same_key_share": _round(sum(r["same_key"] for r in answered) / max(1, len(rows))),
        "cut_mid_gesture": sum(r["cut_mid_gesture"] for r in answered),
        "released_together_max": max((r["released_together"] for r in answered), default=0),
    }


def duet_figures(passage: data.Excerpt, ai: list[Note], max_note_s: float, after_s: float,
                 safety_s: float = 8.0) -> dict:
    human = list(passage.notes)
    during = [n for n in ai if n.start_s < passage.end_s]
    length_s = passage.end_s
    clash, own = mu.clash_rate(during, human), mu.own_clash_rate(human)
    silent_s = max((n.end_s for n in ai), default=0.0) - length_s
    still = silent_s >= after_s - 0.5  # sounding, or begun, in the last half second of listening

    def sounding(notes):  # mean notes sounding over the passage, silence counted
        return sum(min(n.end_s, length_s) - n.start_s for n in notes if n.start_s < length_s) / length_s

    return {
        "source": passage.source, "length_s": round(length_s, 1),
        "human_notes_per_s": _round(len(human) / length_s, 2),
        "ai_notes_per_s": _round(len(during) / length_s, 2),
        "human_sounding_mean": _round(sounding(human), 2), "ai_sounding_mean": _round(sounding(during), 2),
        "human_range": [min(n.pitch for n in human), max(n.pitch for n in human)],
        "ai_range": [min(n.pitch for n in during), max(n.pitch for n in during)] if during else None,
        "clash_rate": _round(clash), "own_clash_rate": _round(own),
        "clash_to_own_ratio": _round(clash / own) if clash is not None and own else None,
        "held_to_limit": sum(1 for n in ai if n.end_s - n.start_s >= max_note_s - 0.05),
        "max_note_s": max_note_s,
        "held_to_safety_release": sum(1 for n in ai if n.end_s - n.start_s >= safety_s - 0.05),
        "longest_ai_note_s": _round(max((n.end_s - n.start_s for n in ai), default=0.0), 2),
        "silent_after_stop_s": None if still else _round(max(0.0, silent_s), 2),
        "still_playing_after_s": after_s if still else None,
    }


def engine_summary(facts: list[dict]) -> dict:
    """The engine's model step (generation, sampling included) and late notes, over all runs."""
    return {"model_step_p99_ms_max": max(f["model_step_ms"]["p99_ms"] for f in facts),
            "model_step_p50_ms_max": max(f["model_step_ms"]["p50_ms"] for f in facts),
            "late_notes": sum(f["late_notes"] for f in facts)}


# --- offline continuation ---------------------------------------------------------------------------
def continuation_figures(reference: list[Note], notes: list[Note]) -> dict:
    rate, reference_rate = mu.onset_rate(notes), mu.onset_rate(reference)
    key, reference_key = mu.estimate_key(notes), mu.estimate_key(reference)
    return {"pitch_class_correlation": mu.pitch_class_correlation(reference, notes),
            "same_key": key is not None and key == reference_key,
            "density_ratio": rate / reference_rate if rate and reference_rate else None,
            "recurring_figures": mu.recurring_figures(notes)}


def offline(model_name: str, count: int, seconds: float, seed: int, follow: bool) -> dict:
    from perfjam.codec.events import STEPS_PER_SECOND, EventType
    from perfjam.codec.midifile import decode_events
    from perfjam.generation import generate_events, primer_from_notes
    from perfjam.model import PerformanceModel, Sampler

    model = PerformanceModel.load(model_name)
    vocab = model.info.vocab
    shift0 = vocab.offsets[EventType.TIME_SHIFT]
    rows: dict[str, list[dict]] = {"generated": [], "pianist": [], "other_piece": []}
    for i, c in enumerate(data.continuations(count, seconds, seed)):
        primer = primer_from_notes(list(c.primer), vocab)
        control = _primer_control(model, decode_events(primer.events, vocab), follow)
        events = generate_events(model, primer.events, seconds, sampler=Sampler(seed + i), control=control)
        primer_s = sum(e - shift0 + 1 for e in primer.events if shift0 <= e < shift0 + 100) / STEPS_PER_SECOND
        generated = [Note(n.pitch, n.velocity, n.start_s - primer_s, n.end_s - primer_s)
                     for n in decode_events(events, vocab) if n.start_s >= primer_s - 1e-9]
        for name, notes in (("generated", generated), ("pianist", list(c.truth)),
                            ("other_piece", list(c.other))):
            rows[name].append(continuation_figures(list(c.primer), notes))
    summary = {}
    for name, figures in rows.items():
        ratios = [f["density_ratio"] for f in figures if f["density_ratio"] is not None]
        summary[name] = {
            "pitch_class_correlation_mean": _round(np.mean([f["pitch_class_correlation"] for f in figures])),
            "same_key_share": _round(np.mean([f["same_key"] for f in figures])),
            "density_ratio_median": _round(np.median(ratios)) if ratios else None,
            "density_within_1.5x_share":
                _round(np.mean([1 / 1.5 <= x <= 1.5 for x in ratios])) if ratios else None,
            "recurring_figures_mean": _round(np.mean([f["recurring_figures"] for f in figures])),
        }
    return {"excerpts": count, "seconds": seconds, "follow": follow, "summary": summary}


def _primer_control(model, primer_notes: list[Note], follow: bool):
    """What ``perfjam generate --primer`` asks of the model for this primer."""
    from perfjam.controls import no_control_vector

    if not model.info.has_controls:
        return None
    if follow:
        from perfjam.generation import primer_control  # the CLI's own rule (after issue 19)

        return primer_control(model.info.control_size, primer_notes)
    return no_control_vector(model.info.control_size)


# --- listening --------------------------------------------------------------------------------------
def write_listening(folder: Path, name: str, human: list[Note], ai: list[Note]) -> None:
    """Two-track MIDI, its WAV and a piano roll of what the pianist and the AI played."""
    from perfjam.codec.midifile import notes_to_midi

    folder.mkdir(parents=True, exist_ok=True)
    midi_path = folder / f"{name}.mid"
    notes_to_midi({"Pianist": human, "AI": ai}).save(str(midi_path))
    try:
        from perfjam.render import render_midi_to_wav

        render_midi_to_wav(midi_path, midi_path.with_suffix(".wav"))
    except Exception as exc:  # no FluidSynth here: the MIDI file is still there
        print(f"partner: no WAV for {name}: {exc}", file=sys.stderr)
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    figure, axis = plt.subplots(figsize=(12, 4))
    for notes, colour, label in ((human, "#3a6ea5", "pianist"), (ai, "#e0a030", "AI")):
        for n in notes:
            axis.add_patch(plt.Rectangle((n.start_s, n.pitch - 0.4), n.end_s - n.start_s, 0.8,
                                         color=colour, alpha=0.35 + 0.6 * n.velocity / 127))
        axis.plot([], [], color=colour, label=label, linewidth=6)
    every = human + ai
    axis.set_xlim(0, max(n.end_s for n in every) + 0.5)
    axis.set_ylim(min(n.pitch for n in every) - 2, max(n.pitch for n in every) + 2)
    axis.set_xlabel("seconds")
    axis.set_ylabel("MIDI pitch")
    axis.set_title(name)
    axis.legend(loc="upper right")
    figure.tight_layout()
    figure.savefig(folder / f"{name}.png", dpi=90)
    plt.close(figure)


# --- main ---------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="call,duet,offline")
    parser.add_argument("--phrases", type=int, default=24)
    parser.add_argument("--passages", type=int, default=3)
    parser.add_argument("--passage-s", type=float, default=60.0)
    parser.add_argument("--after-s", type=float, default=8.0, help="duet: listening after the pianist stops")
    parser.add_argument("--continuations", type=int, default=40)
    parser.add_argument("--model", default="perfjam-dynamics")
    parser.add_argument("--config", default="{}", help="EngineConfig fields (JSON)")
    parser.add_argument("--no-follow", action="store_true", help="offline: play freely after the primer")
    parser.add_argument("--speed", type=float, default=1.0, help="music runs this many times faster")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--listen", type=Path, help="write MIDI, WAV and piano rolls here")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    from perfjam.model import find_model

    if not (data.ASAP / "split.csv").exists():
        print(f"partner: no data at {data.ASAP}", file=sys.stderr)
        return 2
    parts = set(args.parts.split(","))
    config = json.loads(args.config)
    model = str(find_model(args.model))
    report: dict = {"model": args.model, "config": config, "speed": args.speed, "targets": TARGETS}
    if parts & {"call", "duet"}:
        from live_latency import jack_server

        with jack_server(realtime=False):
            player = Player(model, config, args.speed)
            try:
                if "call" in parts:
                    rows = []
                    steps = []
                    for i, phrase in enumerate(data.phrases(args.phrases, args.seed)):
                        ai, facts = player.play(phrase, "call", args.seed + i, after_s=30.0)
                        rows.append(call_figures(phrase, ai))
                        steps.append(facts)
                        if args.listen:
                            write_listening(args.listen, f"call-{i + 1:02d}", list(phrase.notes), ai)
                        print(f"call {i + 1}/{args.phrases}: {json.dumps(rows[-1])}", file=sys.stderr)
                    report["call"] = {"summary": call_summary(rows), "engine": engine_summary(steps),
                                      "phrases": rows}
                if "duet" in parts:
                    rows, steps = [], []
                    for i, passage in enumerate(data.pedalled_passages(args.passages, args.passage_s)):
                        ai, facts = player.play(passage, "duet", args.seed + i, after_s=args.after_s)
                        rows.append(duet_figures(passage, ai, facts["max_note_s"], args.after_s,
                                                 facts["safety_release_s"]))
                        rows[-1]["ai_released_idle"] = facts["ai_released_idle"]
                        steps.append(facts)
                        if args.listen:
                            write_listening(args.listen, f"duet-{i + 1:02d}", list(passage.notes), ai)
                        print(f"duet {i + 1}/{args.passages}: {json.dumps(rows[-1])}", file=sys.stderr)
                    report["duet"] = {"engine": engine_summary(steps), "passages": rows}
            finally:
                player.close()
    if "offline" in parts:
        report["offline"] = offline(model, args.continuations, 6.0, args.seed, follow=not args.no_follow)
    emit(report, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
