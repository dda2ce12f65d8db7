"""What the engine says about itself: the ``StatusReport`` it puts on ``reports`` every
``status_interval_s`` (and after each change), and the whole-run figures of ``Engine.stats``.
Read from the engine thread's parts (``loop``: its ``perfjam.live.loop.EngineLoop``)."""

from __future__ import annotations

import time

from perfjam.live.reports import StatusReport

_perf = time.perf_counter


def status_report(loop) -> StatusReport:
    rec, ports, policy, sender = loop.takes.current, loop.ports, loop.policy, loop.sender
    return StatusReport(
        midi_in=ports.in_name or "", midi_out=ports.out_name or "",
        audio=loop.synth.audio_status if loop.synth is not None else "no audio",
        mode=policy.mode, temperature=loop.steering.temperature, model_name=loop.model.info.name,
        has_controls=loop.model.info.has_controls,
        step_ms_p50=loop.step_time.recent(50), step_ms_p99=loop.step_time.recent(99),
        late_notes=sender.late, events_per_s=loop.events_per_s,
        recording_path=str(rec.path) if rec is not None else None,
        recording_elapsed_s=rec.elapsed_s(_perf()) if rec is not None else 0.0,
        playing=policy.playing,
        midi_in_state=ports.input_state(), midi_out_state=ports.output_state(),
        state=policy.state(), events_in=loop.events_in, events_out=sender.events_out,
        timing_error_ms_p99=sender.timing_error.recent(99),
        thru_latency_ms_p99=loop.thru_latency.recent(99),
        engine_load=loop.load, follow_key=loop.steering.follow_key,
        key_histogram=loop.steering.histogram if loop.model.info.has_controls else None,
    )


def measure(loop, now_s: float) -> None:
    """The figures a status shows: the engine thread's load and the model's steps per second."""
    last_s, last_busy = loop.load_mark
    if now_s > last_s:
        loop.load = min(1.0, (loop.busy_s - last_busy) / (now_s - last_s)) if last_s else 0.0
    loop.load_mark = (now_s, loop.busy_s)
    last_t, last_n = loop.steps_mark
    if now_s - last_t >= 1.0:
        loop.events_per_s = (loop.stream.steps_fed - last_n) / (now_s - last_t)
        loop.steps_mark = (now_s, loop.stream.steps_fed)


def run_stats(loop) -> dict:
    """Whole-run figures: thru latency, AI timing error, model step time (ms), counts."""
    elapsed = _perf() - loop.started_s
    stream, sender = loop.stream, loop.sender
    return {
        "thru_latency_ms": loop.thru_latency.summary(),
        "ai_timing_error_ms": sender.timing_error.summary(),
        "model_step_ms": loop.step_time.summary(),
        "turn_ms": loop.turn_time.summary(),  # the engine thread's work between two waits
        "cut_turns": loop.pacer.cut_turns,  # turns cut by the work slice (EngineConfig.work_slice_ms)
        "thread_priority": loop.priority,
        "locked_mb": round(loop.locked_bytes / 2**20, 2),  # pages JACK's threads run in, kept in RAM
        "late_notes": sender.late,
        "late_examples": list(sender.late_log),
        "events_in": loop.events_in,
        "doubled_note_ons_dropped": loop.ports.doubled_note_ons,  # delivered twice by the MIDI system
        "malformed_midi_dropped": loop.ports.malformed_messages,  # data bytes over 127, wrong lengths
        "events_out": sender.events_out,
        "model_steps": stream.steps_fed,
        "grammar_violations": stream.grammar_violations,  # events fed the grammar excludes: 0
        "ai_released_idle": loop.ai_released_idle,  # AI notes left sounding when generation stopped: 0
        "steps_per_s": stream.steps_fed / elapsed if elapsed > 0 else 0.0,
        "elapsed_s": elapsed,
    }
