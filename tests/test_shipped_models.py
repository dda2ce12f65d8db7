"""The shipped models (assets/models/): metadata, a sample that sounds like piano, the density control.

The two models ship with the app, so a missing file fails. ``PERFJAM_SHIPPED_MODELS_DIR`` points
the tests at another folder (e.g. candidate exports before they are copied to assets/models/).
Each ships as NAME.onnx, int8 where that costs <= 0.01 nats/event (see assets/models/README.md).
The whole file runs in well under a minute on two CPU cores.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest

from perfjam.codec.events import VOCAB_DYNAMICS, VOCAB_NO_DYNAMICS, Vocab
from perfjam.controls import CONTROL_SIZE, layout_for, requested_control
from perfjam.model import MODELS_DIR, PerformanceModel

pytest.importorskip("matplotlib")  # training.listen draws piano rolls and shows progress (train extras)
pytest.importorskip("tqdm")
from training.listen import density_sweep, describe, sample_performance  # noqa: E402

SHIPPED_DIR = Path(os.environ.get("PERFJAM_SHIPPED_MODELS_DIR") or MODELS_DIR)
MODELS: dict[str, tuple[Vocab, int]] = {  # name -> (vocabulary, control size)
    "perfjam-dynamics": (VOCAB_DYNAMICS, CONTROL_SIZE),  # the default: plays freely, steers when asked
    "perfjam-nodynamics": (VOCAB_NO_DYNAMICS, 0),
}
VARIANTS = list(MODELS)
SAMPLE_S = 30.0
NOTES_PER_S_RANGE = (1.0, 30.0)  # broad: real piano music (ASAP test segments: 5-95 % is 2.5-21)
SWEEP_S, SWEEP_SEEDS = 20.0, 3
# Real piano at 30 notes/s takes about 120 events/s (ASAP: 37 on average); the cap bounds the runtime.
MAX_EVENTS_PER_S = 120.0
LOW_DENSITY, HIGH_DENSITY = 2.0, 16.0


def _load(variant: str) -> PerformanceModel:
    path = SHIPPED_DIR / f"{variant}.onnx"
    present = sorted(p.name for p in SHIPPED_DIR.glob("*.onnx")) if SHIPPED_DIR.is_dir() else []
    assert path.is_file(), f"{path.name} is not in {SHIPPED_DIR} (present: {', '.join(present) or 'none'})"
    return PerformanceModel.load(path)


@pytest.mark.parametrize("variant", VARIANTS)
def test_metadata_names_vocabulary_controls_and_nll(variant):
    info = _load(variant).info
    vocab, control_size = MODELS[variant]
    assert info.vocab == vocab and info.metadata["vocab"] == vocab.name
    assert int(info.metadata["vocab_size"]) == vocab.size == (388 if vocab.dynamics else 356)
    assert info.control_size == control_size
    if control_size:
        app_layout = json.loads(json.dumps(layout_for(control_size)))
        assert info.control_layout == app_layout, "controls differ from the app's"
    else:
        assert info.control_layout is None and not info.has_controls
    for key in ("val_nll", "test_nll"):
        nll = getattr(info, key)
        assert nll is not None, f"{variant}: metadata carries no {key}"
        assert math.isfinite(nll) and 0.0 < nll < 5.0, f"{variant}: implausible {key} {nll}"


@pytest.mark.parametrize("variant", VARIANTS)
def test_a_30_s_sample_sounds_like_piano(variant):
    model = _load(variant)
    control = requested_control(model.info.control_size)  # as the app plays it: freely
    sample = sample_performance(model, SAMPLE_S, temperature=1.0, seed=0, control=control,
                                max_events_per_s=MAX_EVENTS_PER_S)
    assert sample.seconds > SAMPLE_S, f"{variant}: over {MAX_EVENTS_PER_S:g} events/s, the sample ended early"
    stats = describe(sample.notes, sample.unclosed_notes, sample.seconds)
    summary = {k: stats[k] for k in ("notes", "notes_per_s", "unclosed_notes", "long_notes", "longest_trill",
                                     "longest_silence_s", "pitch_min", "pitch_max")}
    assert stats["stuck_notes"] == 0, f"{variant}: stuck notes (open after the tail, > 10 s): {summary}"
    low, high = NOTES_PER_S_RANGE
    assert low <= stats["notes_per_s"] <= high, f"{variant}: notes/s outside {NOTES_PER_S_RANGE}: {summary}"


@pytest.mark.parametrize("variant", [v for v, (_vocab, size) in MODELS.items() if size])
def test_generated_density_tracks_the_requested_density(variant):
    model = _load(variant)
    low, high = density_sweep(model, [LOW_DENSITY, HIGH_DENSITY], seconds=SWEEP_S, samples=SWEEP_SEEDS,
                              max_events_per_s=MAX_EVENTS_PER_S)
    report = {row["requested"]: row["per_sample"] for row in (low, high)}
    assert high["achieved"] >= 2.0 * low["achieved"] and high["achieved"] - low["achieved"] >= 3.0, (
        f"{variant}: achieved notes/s per requested density ({SWEEP_SEEDS} seeds x {SWEEP_S:g} s): {report}"
    )
