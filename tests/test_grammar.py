"""perfjam.codec.grammar: each rule at its boundaries (both vocabularies), the incremental state
against the vectorised masks on encoder output, snapshot/restore, the distributions the app
samples from, real files, and generation that never breaks the grammar."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from perfjam.codec.events import (
    MAX_SHIFT_STEPS,
    NUM_PITCHES,
    NUM_VELOCITY_BINS,
    VOCAB_DYNAMICS,
    VOCAB_NO_DYNAMICS,
    EventType,
    Note,
    encode_notes,
)
from perfjam.codec.grammar import (
    GRAMMAR_MODES,
    RENORMALIZE,
    TYPE_PRESERVING,
    GrammarState,
    first_mask,
    grammar_log_probs,
    mode_for_model,
    sequence_masks,
    violations,
)
from perfjam.sampling import Sampler, grammar_probabilities

VOCABS = [VOCAB_DYNAMICS, VOCAB_NO_DYNAMICS]
ASAP = Path(__file__).resolve().parents[2] / "shared" / "data" / "asap"


def on(p, v=VOCAB_DYNAMICS):
    return v.index(EventType.NOTE_ON, p)


def off(p, v=VOCAB_DYNAMICS):
    return v.index(EventType.NOTE_OFF, p)


def ts(steps, v=VOCAB_DYNAMICS):
    return v.index(EventType.TIME_SHIFT, steps)


def vel(b):
    return VOCAB_DYNAMICS.index(EventType.VELOCITY, b)


def masks_both_ways(events, vocab, known_start=True) -> list[np.ndarray]:
    """The allowed set after each prefix, from GrammarState; checked equal to sequence_masks."""
    state = GrammarState(vocab, known_start)
    incremental = []
    for e in events:
        state.feed(e)
        incremental.append(state.allowed().copy())
    vectorised = sequence_masks(np.asarray(events)[None], vocab, known_start)[0]
    for t, mask in enumerate(incremental):
        np.testing.assert_array_equal(mask, vectorised[t], err_msg=f"position {t} of {events}")
    return incremental


# ----------------------------------------------------------------------------- the rules


@pytest.mark.parametrize("vocab", VOCABS, ids=lambda v: v.name)
def test_rule_1_note_off_only_while_the_pitch_sounds(vocab):
    start = first_mask(vocab)
    assert not start[off(0, vocab) : off(127, vocab) + 1].any(), "nothing sounds at the start"
    prefix = [vel(10)] if vocab.dynamics else []
    for pitch in (0, 127):
        events = [*prefix, on(pitch, vocab), ts(5, vocab), off(pitch, vocab)]
        masks = masks_both_ways(events, vocab)
        after_on = masks[len(prefix)]
        assert after_on[off(pitch, vocab)] and after_on[off(pitch, vocab) :].sum() >= 1
        assert after_on[off(0, vocab) : off(127, vocab) + 1].sum() == 1, "only the sounding pitch"
        assert not masks[-1][off(pitch, vocab)], "released: no second NOTE_OFF"
        assert violations([*events, off(pitch, vocab)], vocab) == [len(events)]
    # A re-strike stays allowed; two notes sound, either can be released.
    events = [*prefix, on(60, vocab), on(60, vocab), on(64, vocab)]
    last = masks_both_ways(events, vocab)[-1]
    assert last[on(60, vocab)] and last[off(60, vocab)] and last[off(64, vocab)] and not last[off(61, vocab)]
    # Two notes of one pitch open together (a 4 ms note stretched to a step, struck again in it):
    # both are closed, so rule 1 counts.
    notes = [Note(60, 80, 0.0, 0.004), Note(60, 80, 0.004, 1.0)]
    events = encode_notes(notes, vocab)
    assert [vocab.event(e)[0] for e in events].count(EventType.NOTE_OFF) == 2
    assert violations(events, vocab) == []
    masks = masks_both_ways(events, vocab)
    assert masks[-2][off(60, vocab)] and not masks[-1][off(60, vocab)]
    # ...but the decoder ends the first note at the re-strike, so the second NOTE_OFF has no
    # effect: generation samples from effective(), which leaves it out.
    state = GrammarState(vocab)
    for e in events[:-2]:
        state.feed(e)
    assert state.allowed()[off(60, vocab)] and not state.effective()[off(60, vocab)]


def test_rule_2_after_a_velocity_only_a_note_on():
    for b in (1, NUM_VELOCITY_BINS):
        mask = masks_both_ways([vel(b)], VOCAB_DYNAMICS)[0]
        assert mask[on(0) : on(127) + 1].all() and mask.sum() == NUM_PITCHES
    assert violations([vel(3), ts(10)], VOCAB_DYNAMICS) == [1]
    assert violations([vel(3), vel(4)], VOCAB_DYNAMICS) == [1]
    assert violations([vel(3), on(60), ts(1), vel(4), on(61), off(60)], VOCAB_DYNAMICS) == []


def test_rule_3_no_velocity_equal_to_the_current_bin():
    for b in (1, NUM_VELOCITY_BINS):
        events = [vel(b), on(60), ts(3)]
        mask = masks_both_ways(events, VOCAB_DYNAMICS)[-1]
        assert not mask[vel(b)]
        assert mask[vel(1) : vel(NUM_VELOCITY_BINS) + 1].sum() == NUM_VELOCITY_BINS - 1
    events = [vel(5), on(60), vel(6), on(61), ts(2)]
    mask = masks_both_ways(events, VOCAB_DYNAMICS)[-1]
    assert mask[vel(5)] and not mask[vel(6)], "the previous bin is allowed again"
    assert first_mask(VOCAB_DYNAMICS)[vel(1) : vel(NUM_VELOCITY_BINS) + 1].all()


@pytest.mark.parametrize("vocab", VOCABS, ids=lambda v: v.name)
def test_rule_4_no_time_shift_after_a_short_one(vocab):
    shifts = slice(ts(1, vocab), ts(MAX_SHIFT_STEPS, vocab) + 1)
    for steps in (1, MAX_SHIFT_STEPS - 1):
        mask = masks_both_ways([ts(steps, vocab)], vocab)[0]
        assert not mask[shifts].any()
        assert violations([ts(steps, vocab), ts(MAX_SHIFT_STEPS, vocab)], vocab) == [1]
    mask = masks_both_ways([ts(MAX_SHIFT_STEPS, vocab)], vocab)[0]
    assert mask[shifts].all(), "after a full shift any shift may follow"
    # A short shift, then a note, then shifts again.
    first = [vel(9)] if vocab.dynamics else []
    events = [ts(MAX_SHIFT_STEPS, vocab), ts(30, vocab), *first, on(60, vocab), ts(7, vocab)]
    assert violations(events, vocab) == []
    assert masks_both_ways(events, vocab)[len(events) - 2][shifts].all()


@pytest.mark.parametrize("vocab", VOCABS, ids=lambda v: v.name)
def test_rule_5_no_note_on_before_the_first_velocity(vocab):
    start = first_mask(vocab)
    ons = start[on(0, vocab) : on(127, vocab) + 1]
    if vocab.dynamics:
        assert not ons.any() and violations([on(60)], vocab) == [0]
        assert violations([ts(100), ts(20), on(60)], vocab) == [2]
    else:
        assert ons.all() and violations([on(60, vocab)], vocab) == []


@pytest.mark.parametrize("vocab", VOCABS, ids=lambda v: v.name)
def test_an_unknown_start_is_never_narrower_than_the_truth(vocab):
    start = first_mask(vocab, known_start=False)
    assert start.all()
    # Something cut from the middle: a NOTE_OFF of a note begun before the window, a NOTE_ON
    # under a velocity set before it.
    events = [off(62, vocab), on(60, vocab), ts(4, vocab), off(60, vocab), off(70, vocab)]
    assert violations(events, vocab, known_start=False) == []
    masks = masks_both_ways(events, vocab, known_start=False)
    assert not masks[0][off(62, vocab)] and masks[0][off(63, vocab)], "one note of 62 was open"
    assert not masks[3][off(60, vocab)] and not masks[2][ts(1, vocab)]
    # Two notes of one pitch open in the window are counted as after a known start.
    twice = [on(61, vocab), on(61, vocab), ts(3, vocab), off(61, vocab)]
    assert masks_both_ways(twice, vocab, known_start=False)[-1][off(61, vocab)]
    if vocab.dynamics:
        assert masks[0][vel(7)] and masks[0][on(61)]
        later = masks_both_ways([vel(7), on(61), ts(10)], vocab, known_start=False)[-1]
        assert not later[vel(7)] and later[vel(8)]


def test_snapshot_and_restore_return_to_the_same_masks():
    state = GrammarState(VOCAB_DYNAMICS)
    for e in [vel(12), on(60), ts(50)]:
        state.feed(e)
    saved, before = state.snapshot(), state.allowed().copy()
    for e in [on(64), vel(3), on(65), ts(1)]:
        state.feed(e)
    assert not np.array_equal(state.allowed(), before)
    state.restore(saved)
    np.testing.assert_array_equal(state.allowed(), before)
    assert state.feed(on(64)) and state.is_allowed(off(64)) and not state.is_allowed(off(61))
    state.restore(saved)
    assert not state.is_allowed(off(64)), "a restore is a copy: feeding after it does not leak back"


def test_mode_for_model_reads_the_grammar_loss_flag():
    assert mode_for_model({"grammar_loss": "true"}) == RENORMALIZE
    assert mode_for_model({"grammar_loss": "false"}) == TYPE_PRESERVING
    assert mode_for_model({}) == mode_for_model(None) == TYPE_PRESERVING


# ----------------------------------------------------------------------------- encoder output

notes_strategy = st.lists(
    st.builds(
        lambda pitch, velocity, start, length: Note(pitch, velocity, start, start + length),
        st.integers(0, 127) | st.sampled_from([60, 61]),  # some pitch collisions
        st.integers(1, 127),
        st.floats(0.0, 6.0, allow_nan=False).map(lambda t: round(t, 3)),
        st.floats(0.0, 2.5, allow_nan=False).map(lambda t: round(t, 3)),
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(notes=notes_strategy, data=st.data())
def test_encoder_output_is_grammatical_and_both_forms_agree(notes, data):
    from perfjam.codec.events import EventReader

    for vocab in VOCABS:
        events = encode_notes(notes, vocab)
        assert violations(events, vocab) == []
        masks = masks_both_ways(events, vocab)
        state, reader = GrammarState(vocab), EventReader(vocab)
        for e in events:  # effective(): the allowed events whose NOTE_OFFs the decoder would act on
            state.feed(e)
            reader.feed(e)
            effective = state.effective()
            assert not (effective & ~state.allowed()).any()
            offs = set(np.flatnonzero(effective[off(0, vocab) : off(127, vocab) + 1]).tolist())
            if vocab.event(e)[0] != EventType.VELOCITY:  # (after one: only a NOTE_ON, rule 2)
                assert offs == set(reader.sounding)
        assert first_mask(vocab)[events[0]]
        for t in range(len(events) - 1):
            assert masks[t][events[t + 1]], f"target {t + 1} excluded"
        # A window from the middle, with an unknown start: every target stays allowed unless two
        # notes of one pitch were open at once (the documented exception).
        start = data.draw(st.integers(0, len(events) - 1))
        window = events[start:]
        open_notes, most_open = np.zeros(NUM_PITCHES, int), 0
        for e in events:
            kind, pitch = vocab.event(e)
            open_notes[pitch] += {EventType.NOTE_ON: 1, EventType.NOTE_OFF: -1}.get(kind, 0)
            most_open = max(most_open, open_notes.max())
        if most_open <= 1:
            assert violations(window, vocab, known_start=False) == []
        masks_both_ways(window, vocab, known_start=False)


def test_real_performances_encode_without_violations():
    if not ASAP.is_dir():
        pytest.skip(f"the ASAP data set is not at {ASAP} (the full check: python -m training.check_grammar)")
    from perfjam.codec.midifile import read_notes

    files = sorted(ASAP.rglob("*.mid"))[::200][:4]
    assert files
    for path in files:
        notes = read_notes(path)
        for vocab in VOCABS:
            events = encode_notes(notes, vocab)
            assert violations(events, vocab) == [], f"{path.name} ({vocab.name})"


# ----------------------------------------------------------------------------- distributions


def _random_case(seed: int):
    """Logits and the mask after a random piece of encoder output."""
    rng = np.random.default_rng(seed)
    notes = [Note(int(rng.integers(40, 90)), int(rng.integers(1, 128)), float(s),
                  float(s + rng.uniform(0, 2))) for s in rng.uniform(0, 4, 12)]
    events = encode_notes(notes, VOCAB_DYNAMICS)
    state = GrammarState(VOCAB_DYNAMICS)
    for e in events[: int(rng.integers(1, len(events)))]:
        state.feed(e)
    logits = rng.normal(scale=3.0, size=VOCAB_DYNAMICS.size)
    logits[128:256] += 2.0  # a model that wants to release notes
    return logits, state.allowed().copy()


@pytest.mark.parametrize("mode", GRAMMAR_MODES)
def test_grammar_distribution_sums_to_one_with_nothing_on_excluded_events(mode):
    for seed in range(30):
        logits, mask = _random_case(seed)
        q = np.exp(grammar_log_probs(logits, mask, VOCAB_DYNAMICS, mode))
        assert q.sum() == pytest.approx(1.0, abs=1e-12) and np.all(q[~mask] == 0.0) and np.all(q[mask] > 0)
        np.testing.assert_allclose(grammar_probabilities(logits, mask, mode), q, rtol=1e-9, atol=1e-15)
    batch = np.stack([_random_case(s)[0] for s in range(5)]), np.stack([_random_case(s)[1] for s in range(5)])
    together = grammar_log_probs(*batch, VOCAB_DYNAMICS, mode)
    for i in range(5):
        one = grammar_log_probs(batch[0][i], batch[1][i], VOCAB_DYNAMICS, mode)
        np.testing.assert_allclose(together[i], one)


def test_type_preserving_keeps_the_note_off_total_and_renormalize_keeps_ratios():
    rng = np.random.default_rng(4)
    logits = rng.normal(size=VOCAB_DYNAMICS.size)
    mask = np.ones(VOCAB_DYNAMICS.size, bool)
    mask[128:256] = False
    mask[[128 + 60, 128 + 64]] = True  # two pitches sound; only NOTE_OFFs are excluded
    p = np.exp(logits - logits.max())
    p /= p.sum()
    q = np.exp(grammar_log_probs(logits, mask, VOCAB_DYNAMICS, TYPE_PRESERVING))
    assert q[128:256].sum() == pytest.approx(p[128:256].sum(), rel=1e-12)
    assert q[128 + 60] / q[128 + 64] == pytest.approx(p[128 + 60] / p[128 + 64])
    np.testing.assert_allclose(q[:128], p[:128], rtol=1e-12)  # nothing else changes
    r = np.exp(grammar_log_probs(logits, mask, VOCAB_DYNAMICS, RENORMALIZE))
    np.testing.assert_allclose(r[mask], p[mask] / p[mask].sum(), rtol=1e-12)
    # Nothing sounding: both modes are the plain renormalisation.
    mask[128:256] = False
    both = [np.exp(grammar_log_probs(logits, mask, VOCAB_DYNAMICS, m)) for m in GRAMMAR_MODES]
    np.testing.assert_allclose(*both, rtol=1e-12)
    with pytest.raises(ValueError, match="unknown grammar mode"):
        grammar_log_probs(logits, mask, VOCAB_DYNAMICS, "sideways")


def test_the_fast_path_survives_extreme_logits():
    logits, mask = _random_case(1)
    logits = logits.copy()
    logits[~mask] = 2000.0  # every allowed event far below the excluded peak
    for mode in GRAMMAR_MODES:
        want = np.exp(grammar_log_probs(logits, mask, VOCAB_DYNAMICS, mode))
        np.testing.assert_allclose(grammar_probabilities(logits, mask, mode), want, rtol=1e-9, atol=1e-300)


@pytest.mark.parametrize("mode", GRAMMAR_MODES)
def test_sampler_applies_the_grammar_then_temperature_then_top_p(mode):
    logits, mask = _random_case(7)
    sampler = Sampler(0)
    q = np.exp(grammar_log_probs(logits, mask, VOCAB_DYNAMICS, mode))
    np.testing.assert_allclose(sampler.probabilities(logits, 1.0, None, mask, mode), q, rtol=1e-9)
    hot = q ** (1 / 1.7)
    hot /= hot.sum()
    np.testing.assert_allclose(sampler.probabilities(logits, 1.7, None, mask, mode), hot, rtol=1e-9)
    greedy = sampler.probabilities(logits, 0.0, None, mask, mode)
    assert greedy[np.argmax(q)] == 1.0 and sampler.sample(logits, 0.0, None, mask, mode) == np.argmax(q)
    nucleus = sampler.probabilities(logits, 1.0, 0.5, mask, mode)
    assert np.all(nucleus[~mask] == 0) and (nucleus > 0).sum() <= mask.sum()
    picks = {sampler.sample(logits, 1.3, 0.95, mask, mode) for _ in range(2000)}
    assert all(mask[i] for i in picks)
    restrict = np.ones_like(mask)
    restrict[128:256] = False  # e.g. the engine: none of these are the AI's notes
    r = sampler.probabilities(logits, 1.0, None, mask, mode, restrict)
    np.testing.assert_allclose(r, q * restrict / (q * restrict).sum(), rtol=1e-9)


# ----------------------------------------------------------------------------- generation


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    pytest.importorskip("torch")
    from training.export_onnx import export_checkpoint, write_random_checkpoint
    from training.model import ModelConfig

    root = tmp_path_factory.mktemp("grammar-model")
    config = ModelConfig(embedding=16, layers=1, hidden=32)
    checkpoint = write_random_checkpoint(root / "tiny.pt", config, seed=3)
    return export_checkpoint(checkpoint, root / "tiny.onnx").path


@pytest.mark.parametrize("mode", [None, *GRAMMAR_MODES])
def test_generation_never_breaks_the_grammar(tiny_model, mode):
    from perfjam.codec.events import EventReader
    from perfjam.generation import default_primer, generate_events, primer_from_pitches
    from perfjam.model import PerformanceModel

    model = PerformanceModel.load(tiny_model)
    vocab = model.info.vocab
    for i, primer in enumerate([default_primer(vocab), primer_from_pitches([60, 64, 67], vocab)]):
        events = generate_events(model, primer, 8.0, 1.0, None, Sampler(i), max_note_s=2.0, grammar_mode=mode)
        assert violations(events, vocab) == []
        reader = EventReader(vocab)
        for e in events:
            kind, pitch = vocab.event(e)
            if kind == EventType.NOTE_OFF:
                assert pitch in reader.sounding, "a NOTE_OFF of a silent pitch"
            reader.feed(e)
    plain = generate_events(model, default_primer(vocab), 8.0, 1.0, None, Sampler(0), grammar_mode="none")
    assert violations(plain, vocab), "a random model without the grammar breaks it (the mask matters)"
    with pytest.raises(ValueError, match="unknown grammar mode"):
        generate_events(model, default_primer(vocab), 1.0, grammar_mode="sideways")
