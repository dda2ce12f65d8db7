"""The AI as a musical partner, on real performances through real JACK ports (the key figures of
benchmarks/partner.py, which measures them all on the test split).

Phrases of the test split with the sustain pedal moving and the una corda pressed are played into
the live engine, as the window starts it, with the shipped model, music twice as fast as written
(``EngineConfig.speed``): the AI waits for the end of the phrase's sound (no note inside it, the
soft pedal is no cue), answers about as loud as the phrase, and ends at a breath of its own (never
several notes cut in the same instant). A pedalled passage played along with: the AI is silent
within 4 s of the pianist stopping, no note is held to the 8-s safety release, and nothing was
left sounding when it stopped.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = [pytest.mark.jack, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[1]
SPEED = 2.0


def _benchmark(name: str):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # (its dataclasses look themselves up there; partner imports partner_data)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def partner():
    data = _benchmark("partner_data")
    if not (data.ASAP / "split.csv").exists():
        pytest.skip(f"the ASAP performances are not at {data.ASAP} (../shared/data/asap)")
    return _benchmark("partner"), data


@pytest.fixture
def player(partner, jack_server, monkeypatch):
    from perfjam.model import find_model

    monkeypatch.setenv("PERFJAM_MIDI_API", "jack")
    bench, _ = partner
    p = bench.Player(str(find_model("perfjam-dynamics")), {"response_length_s": 4.0}, SPEED)
    yield p
    p.close()


@pytest.mark.timeout(240)
def test_it_answers_after_the_phrases_sound_as_loud_as_it_and_ends_at_a_breath(partner, player):
    bench, data = partner
    pedalled = [p for p in data.phrases(8, seed=1)
                if bench.una_corda_presses(p.messages) and sum(m[1] == 64 for _t, m in p.messages) >= 10]
    assert len(pedalled) >= 3, "the test split has pedalled phrases with the una corda"
    rows = []
    for i, phrase in enumerate(pedalled[:3]):
        ai, facts = player.play(phrase, "call", seed=1 + i, after_s=20.0)
        assert not facts["errors"], facts
        rows.append(bench.call_figures(phrase, ai))
    for r in rows:
        assert r["ai_notes_in_phrase"] == 0, r  # (the una corda was pressed in each: no cue)
        assert r["answer_notes"] > 0, r
        assert not r["cut_mid_gesture"], r
    assert np.median([abs(r["velocity_difference"]) for r in rows]) <= 12, rows


@pytest.mark.timeout(240)
def test_it_plays_along_and_is_silent_soon_after_the_pianist_stops(partner, player):
    bench, data = partner
    (passage,) = data.pedalled_passages(1, 20.0)
    ai, facts = player.play(passage, "duet", seed=3, after_s=8.0)
    r = bench.duet_figures(passage, ai, facts["max_note_s"], 8.0, facts["safety_release_s"])
    assert r["ai_notes_per_s"] > 0, r
    assert r["silent_after_stop_s"] is not None and r["silent_after_stop_s"] <= 4.0, r
    assert r["held_to_safety_release"] == 0 and facts["ai_released_idle"] == 0, (r, facts)
