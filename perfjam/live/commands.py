"""What other threads may ask of the engine thread: ``COMMANDS``, name -> handler.

``Engine``'s methods put ``(name, *args)`` on the engine's inbox; the engine thread calls
``COMMANDS[name](loop, *args)`` between turns (``loop``: its ``perfjam.live.loop.EngineLoop``).
A handler runs on the engine thread and may use the loop's parts freely.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable

from perfjam.model import ModelError, PerformanceModel
from perfjam.recorder import normal_priority

_perf = time.perf_counter


def _stop(loop) -> None:
    loop.stopping = True


def _query(loop, fn, box: list, done: threading.Event) -> None:
    try:
        box.append(fn(loop))
    except Exception as exc:
        box.append(exc)
    done.set()


def _temperature(loop, t: float) -> None:
    loop.steering.temperature = t
    loop.regenerate()
    loop.report_status()


def _controls(loop, notes_per_s, histogram) -> None:
    loop.steering.set_controls(notes_per_s, histogram)
    loop.regenerate()


def _follow_key(loop, on: bool) -> None:
    loop.steering.set_follow_key(on)
    loop.report_status()


def _follow_density(loop, on: bool) -> None:
    loop.steering.set_follow_density(on)
    loop.report_status()


def _loudness(loop, loudness: str) -> None:
    loop.steering.set_loudness(loudness)
    loop.report_status()


def _duet_density(loop, fraction: float) -> None:
    loop.steering.duet_density = fraction


def _sampling(loop, top_p, min_p, note_min_p) -> None:
    loop.steering.top_p, loop.steering.min_p, loop.steering.note_min_p = top_p, min_p, note_min_p
    loop.regenerate()


def _answer_now(loop) -> None:
    loop.answer_now()


def _answer_cc(loop, cc) -> None:
    loop.steering.answer_cc = cc


def _response(loop, gap_ms, length_s) -> None:
    if gap_ms is not None:
        loop.policy.gap_s = gap_ms / 1000.0
    if length_s is not None:
        loop.policy.length_s = length_s


def _mode(loop, mode: str, primer) -> None:
    loop.stop_ai()
    loop.policy.set_mode(mode)
    loop.shape_for_mode()
    if mode == "solo" and (primer or loop.cfg.primer):
        loop.load_primer(primer or loop.cfg.primer)
    loop.report_status()


def _playing(loop, playing: bool) -> None:
    if not playing:
        loop.stop_ai()
    loop.policy.playing = playing
    loop.policy.reset()
    loop.report_status()


def _paused(loop, paused: bool) -> None:
    """Held while a take plays back (its notes released); afterwards it starts afresh."""
    if paused:
        loop.stop_ai()
    loop.policy.reset()
    loop.policy.paused = paused
    loop.report_status()


def _panic(loop) -> None:
    loop.stop_ai()
    loop.human_lost()
    loop.outlets.panic()
    loop.policy.reset()


def _load_model(loop, path_or_name) -> None:
    """Loads on a thread of its own (seconds of work), then ``model_ready`` on the inbox."""
    def load() -> None:
        normal_priority()  # not the engine thread's real-time priority for seconds of work
        try:
            model = PerformanceModel.load(path_or_name)
            model.warm_up()
            loop.inbox.put(("model_ready", model))
        except (ModelError, OSError) as exc:
            loop.inbox.put(("model_ready", exc))

    threading.Thread(target=load, name="perfjam-model-loader", daemon=True).start()


def _model_ready(loop, model) -> None:
    if isinstance(model, Exception):
        loop.error(str(model))
        return
    loop.stop_ai()
    loop.new_stream(model, max(loop.clock.step_at(_perf()), loop.stream.step))
    loop.policy.reset()
    loop.report_status()


def _soundfont(loop, path) -> None:
    if loop.synth is None:
        return
    loop.stop_ai()
    try:
        loop.synth.load_soundfont(path)
    except Exception as exc:  # SynthError
        loop.error(str(exc))


def _midi_input(loop, name, virtual) -> None:
    port = loop.ports.input
    if port is not None:
        if port.inbox is None:
            for time_s, message in port.iter_pending():  # played before the switch
                loop.on_midi(time_s, message)
        if loop.human_queue:
            loop.hear_humans()
        loop.human_lost(gentle=True)
    loop.ports.open_input(name, virtual)
    loop.report_status()


def _midi_output(loop, name, virtual) -> None:
    loop.ports.open_output(name, virtual)
    loop.report_status()


def _input_lost(loop) -> None:
    """The input went away (queued by ``EnginePorts.check`` behind what it had received)."""
    if loop.ports.input_lost:
        if loop.human_queue:
            loop.hear_humans()
        loop.human_lost(gentle=True)


def _audio_drivers(loop, drivers) -> None:
    loop.audio.switch(drivers)


def _audio_changed(loop, error) -> None:
    """The audio worker (``perfjam.live.audio``) opened a driver, or found none."""
    if error:
        loop.error(error)
    loop.report_status()


def _midi_channels(loop, out_channel: int, thru: bool, thru_channel: int) -> None:
    """New MIDI out channels: what sounds on the old ones is released first."""
    midi = loop.outlets.midi
    if out_channel != midi.out_channel:
        loop.stop_ai()  # its note-offs go out on the old channel
    if (thru, thru_channel) != (midi.thru, midi.thru_channel):
        loop.outlets.release_thru()
    loop.outlets.midi = dataclasses.replace(midi, out_channel=out_channel, thru=thru,
                                            thru_channel=thru_channel)
    loop.report_status()


def _seed(loop, seed) -> None:
    loop.steering.set_seed(seed)
    loop.regenerate()


def _record(loop, path) -> None:
    error = loop.takes.start(path, loop.clock.speed, _perf())
    if error:
        loop.error(error)
    else:
        loop.report_status()


def _stop_recording(loop) -> None:
    if loop.takes.stop():
        loop.report_status()


COMMANDS: dict[str, Callable[..., None]] = {
    "stop": _stop,
    "query": _query,
    "temperature": _temperature,
    "controls": _controls,
    "response": _response,
    "follow_key": _follow_key,
    "follow_density": _follow_density,
    "loudness": _loudness,
    "duet_density": _duet_density,
    "sampling": _sampling,
    "answer_now": _answer_now,
    "answer_cc": _answer_cc,
    "mode": _mode,
    "playing": _playing,
    "paused": _paused,
    "panic": _panic,
    "load_model": _load_model,
    "model_ready": _model_ready,
    "soundfont": _soundfont,
    "midi_input": _midi_input,
    "midi_output": _midi_output,
    "input_lost": _input_lost,
    "audio_drivers": _audio_drivers,
    "audio_changed": _audio_changed,
    "midi_channels": _midi_channels,
    "seed": _seed,
    "record": _record,
    "stop_recording": _stop_recording,
}
