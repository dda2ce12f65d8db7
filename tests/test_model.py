"""The ONNX model path: export parity, state snapshots, sampling, clear errors, no torch in the app."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from perfjam.codec.events import VOCAB_DYNAMICS, VOCAB_NO_DYNAMICS
from perfjam.controls import CONTROL_LAYOUT, CONTROL_SIZE, control_vector, scale_histogram
from perfjam.model import ModelError, PerformanceModel, Sampler, find_model, shipped_models

torch = pytest.importorskip("torch")
export_onnx = pytest.importorskip("training.export_onnx")
from training.model import ModelConfig  # noqa: E402  (after the torch skip)

TINY = ModelConfig(embedding=16, layers=2, hidden=32, dropout=0.0)
TINY_CONDITIONED = ModelConfig(
    vocab="nodynamics", vocab_size=VOCAB_NO_DYNAMICS.size, embedding=16, layers=2, hidden=24,
    control_size=CONTROL_SIZE,
)


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    """Tiny random checkpoints exported through the real CLI (once per module)."""
    root = tmp_path_factory.mktemp("models")
    paths = {}
    for key, config in (("plain", TINY), ("conditioned", TINY_CONDITIONED)):
        checkpoint = export_onnx.write_random_checkpoint(root / f"{key}.pt", config, seed=1)
        out = root / f"tiny-{key}.onnx"
        extra = ["--int8"] if key == "plain" else []
        argv = ["--checkpoint", str(checkpoint), "--out", str(out), "--test-nll", "2.5", *extra]
        assert export_onnx.main(argv) == 0
        paths[key], paths[f"{key}.pt"] = out, checkpoint
    return paths


def test_export_writes_the_contract_and_metadata(models):
    model = PerformanceModel.load(models["plain"])
    info = model.info
    assert (info.name, info.vocab, info.layers, info.hidden, info.embedding) == (
        "tiny-plain", VOCAB_DYNAMICS, 2, 32, 16
    )
    assert info.control_size == 0 and info.control_layout is None and not info.has_controls
    assert info.test_nll == 2.5 and info.val_nll is None and info.quantized is False
    assert info.metadata["perfjam_format"] == "1" and info.metadata["steps"] == "0"
    names = [i.name for i in model.session.get_inputs()], [o.name for o in model.session.get_outputs()]
    assert names == (["token", "h", "c"], ["logits", "h_out", "c_out"])
    # weights are stored once: the file is about the size of the float32 parameters
    assert models["plain"].stat().st_size < 1.2 * 4 * int(info.metadata["parameters"]) + 20_000

    conditioned = PerformanceModel.load(models["conditioned"]).info
    assert conditioned.control_size == CONTROL_SIZE and conditioned.vocab == VOCAB_NO_DYNAMICS
    assert conditioned.control_layout == json.loads(json.dumps(CONTROL_LAYOUT))


def test_onnx_matches_torch(models):
    for key in ("plain", "conditioned"):
        torch_model, _ = export_onnx.load_checkpoint(models[f"{key}.pt"])
        assert export_onnx.max_logit_difference(torch_model, models[key], steps=100, seed=3) <= 1e-4


def test_int8_model_loads_and_stays_close(models):
    int8 = PerformanceModel.load(models["plain"].with_name("tiny-plain.int8.onnx"))
    assert int8.info.quantized and int8.info.name == "tiny-plain" and int8.info.test_nll == 2.5
    assert export_onnx.max_logit_difference(models["plain"], int8.info.path, steps=50) < 0.1


def test_export_refuses_a_graph_that_disagrees_with_torch(models, tmp_path):
    with pytest.raises(ValueError, match="parity failed"):
        export_onnx.export_checkpoint(models["plain.pt"], tmp_path / "m.onnx", tolerance=-1.0)
    assert not (tmp_path / "m.onnx").exists()


def test_snapshot_restore_gives_identical_logits(models):
    model = PerformanceModel.load(models["plain"])
    for token in (356 + 20, 60, 300):
        model.step(token)
    state = model.snapshot()
    first = [model.step(t) for t in (64, 67, 260, 192)]
    model.restore(state)
    second = [model.step(t) for t in (64, 67, 260, 192)]
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)
    # the snapshot is a copy: stepping on does not change it
    assert not np.array_equal(state.h, model.snapshot().h)
    model.reset()
    fresh = PerformanceModel.load(models["plain"])
    np.testing.assert_array_equal(model.step(60), fresh.step(60))


def test_step_rejects_bad_tokens_and_controls(models):
    model = PerformanceModel.load(models["plain"])
    with pytest.raises(ValueError, match="outside"):
        model.step(VOCAB_DYNAMICS.size)
    with pytest.raises(ValueError, match="no control"):
        model.step(60, control_vector(4.0))


def test_conditioned_model_requires_and_uses_control(models):
    model = PerformanceModel.load(models["conditioned"])
    with pytest.raises(ValueError, match="conditioned"):
        model.step(60)
    sparse = model.step(60, control_vector(0.5, scale_histogram("C", "major")))
    model.reset()
    dense = model.step(60, control_vector(40.0, scale_histogram("F#", "pentatonic")))
    assert sparse.shape == (VOCAB_NO_DYNAMICS.size,)
    assert np.max(np.abs(sparse - dense)) > 1e-4


def test_sampler_is_reproducible_with_a_seed():
    logits = np.random.default_rng(0).normal(size=388).astype(np.float32)
    a, b, c = Sampler(7), Sampler(7), Sampler(8)
    seq_a = [a.sample(logits, 0.9, 0.95) for _ in range(200)]
    assert seq_a == [b.sample(logits, 0.9, 0.95) for _ in range(200)]
    assert seq_a != [c.sample(logits, 0.9, 0.95) for _ in range(200)]


def _entropy(samples: list[int]) -> float:
    counts = np.bincount(samples).astype(np.float64)
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())


def test_lower_temperature_gives_lower_entropy():
    logits = np.random.default_rng(1).normal(scale=2.0, size=388)
    sampler = Sampler(0)
    entropies = [_entropy([sampler.sample(logits, t) for _ in range(3000)]) for t in (0.3, 1.0, 2.0)]
    assert entropies[0] < entropies[1] < entropies[2]
    assert {sampler.sample(logits, 0.0) for _ in range(20)} == {int(np.argmax(logits))}


def test_top_p_restricts_the_support():
    logits = np.log(np.array([0.5, 0.3, 0.15, 0.04, 0.01]))
    sampler = Sampler(0)
    assert {sampler.sample(logits, 1.0, top_p=0.7) for _ in range(500)} == {0, 1}
    assert {sampler.sample(logits, 1.0, top_p=0.1) for _ in range(100)} == {0}
    assert len({sampler.sample(logits, 1.0) for _ in range(3000)}) == 5
    p = sampler.probabilities(logits, 1.0, top_p=0.9)
    np.testing.assert_allclose(p, [0.5 / 0.95, 0.3 / 0.95, 0.15 / 0.95, 0, 0])


def test_min_p_keeps_the_events_near_the_likeliest():
    logits = np.log(np.array([0.5, 0.3, 0.15, 0.04, 0.01]))
    sampler = Sampler(0)
    p = sampler.probabilities(logits, 1.0, min_p=0.1)  # keeps p >= 0.05
    np.testing.assert_allclose(p, np.array([0.5, 0.3, 0.15, 0, 0]) / 0.95)
    assert {sampler.sample(logits, 1.0, min_p=0.5) for _ in range(300)} == {0, 1}
    hot = sampler.probabilities(logits, 2.0, min_p=0.1)  # a higher temperature lets more through
    assert np.count_nonzero(hot) == 5
    with pytest.raises(ValueError, match="min_p"):
        sampler.probabilities(logits, 1.0, min_p=1.5)


def test_weights_reshape_after_the_temperature_and_before_the_truncation():
    logits = np.log(np.array([0.4, 0.4, 0.2]))
    sampler = Sampler(0)
    p = sampler.probabilities(logits, 1.0, weights=np.array([1.0, 0.25, 1.0]))
    np.testing.assert_allclose(p, np.array([0.4, 0.1, 0.2]) / 0.7)
    p = sampler.probabilities(logits, 1.0, weights=np.array([1.0, 0.25, 1.0]), min_p=0.3)
    np.testing.assert_allclose(p, [2 / 3, 0, 1 / 3])  # 0.1 / 0.7 < 0.3 x 0.4 / 0.7: cut
    assert sampler.sample(logits, 0.0, weights=np.array([0.1, 1.0, 1.0])) == 1  # greedy after weights
    nothing = sampler.probabilities(logits, 1.0, weights=np.zeros(3))  # weights only prefer
    np.testing.assert_allclose(nothing, [0.4, 0.4, 0.2])


def test_sampler_never_picks_masked_events():
    logits = np.full(10, -np.inf)
    logits[[2, 7]] = 0.0
    sampler = Sampler(0)
    assert {sampler.sample(logits) for _ in range(200)} == {2, 7}


def test_clear_errors_for_files_that_are_not_perfjam_models(models, tmp_path):
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(ModelError, match="not a loadable ONNX model"):
        PerformanceModel.load(corrupt)

    other = tmp_path / "identity.onnx"
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "identity", [x], [y])
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(proto, other)
    with pytest.raises(ModelError, match="not a PerfJam Performance RNN.*layers"):
        PerformanceModel.load(other)

    # the right metadata on the wrong graph: the signature check names the mismatch
    real = onnx.load(models["plain"])
    for entry in real.metadata_props:
        proto.metadata_props.add(key=entry.key, value=entry.value)
    onnx.save(proto, other)
    with pytest.raises(ModelError, match="inputs are"):
        PerformanceModel.load(other)

    with pytest.raises(ModelError, match="not found"):
        PerformanceModel.load(tmp_path / "missing.onnx")


def test_find_model_resolves_names_and_lists_shipped_models(tmp_path, models):
    (tmp_path / "alpha.onnx").write_bytes(b"")
    (tmp_path / "beta.int8.onnx").write_bytes(b"")
    assert shipped_models(tmp_path) == ["alpha", "beta.int8"]
    assert find_model("alpha", tmp_path) == tmp_path / "alpha.onnx"
    assert find_model(models["plain"]) == models["plain"]
    with pytest.raises(ModelError, match="no model named 'gamma'.*alpha, beta.int8"):
        find_model("gamma", tmp_path)


def test_the_app_path_never_imports_torch(models):
    code = (
        "import sys, perfjam.model as m\n"
        f"model = m.PerformanceModel.load({str(models['plain'])!r})\n"
        "logits = model.step(60)\n"
        "assert logits.shape == (388,)\n"
        "heavy = sorted({'torch', 'onnx'} & set(sys.modules))\n"
        "assert not heavy, heavy\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def _write_midi_files(folder: Path, count: int) -> list[Path]:
    from perfjam.codec.events import Note
    from perfjam.codec.midifile import notes_to_midi

    rng = np.random.default_rng(4)
    paths = []
    for i in range(count):
        starts = np.sort(rng.uniform(0.0, 4.0, size=20 + 10 * i))
        notes = [Note(int(rng.integers(40, 90)), int(rng.integers(30, 110)), s, s + 0.3) for s in starts]
        path = folder / f"piece{i}.mid"
        notes_to_midi({"piano": notes}).save(str(path))
        paths.append(path)
    return paths


@pytest.mark.parametrize("key", ["plain", "conditioned"])
def test_evaluate_scores_the_same_nll_with_torch_and_onnx(models, tmp_path, capsys, key):
    from training import evaluate

    _write_midi_files(tmp_path, 3)
    reports = {}
    for model_key in (key, f"{key}.pt"):
        argv = ["--model", str(models[model_key]), "--midi-dir", str(tmp_path)]
        if key == "plain":
            argv += ["--sample-stats", "--samples", "2", "--seconds", "2"]
        assert evaluate.main(argv) == 0
        reports[model_key] = json.loads(capsys.readouterr().out)
    onnx_report, torch_report = reports[key], reports[f"{key}.pt"]
    assert onnx_report["files"] == torch_report["files"] == 3
    assert onnx_report["events"] == torch_report["events"] > 100
    assert onnx_report["nll_per_event"] == pytest.approx(torch_report["nll_per_event"], abs=1e-5)
    assert torch_report["nll_per_event_app"] is None, "a checkpoint's app distribution only with --app"
    app = onnx_report["app_sampling"]
    if not app["memory"]:  # the app's distribution is the grammar's
        assert onnx_report["nll_per_event_app"] == pytest.approx(onnx_report["nll_per_event_grammar"])
    assert 0.0 <= onnx_report["truncated_fraction"] < 0.5
    if key == "plain":
        stats = onnx_report["sample_stats"]
        assert stats["data"]["performances"] == 3 and stats["samples"]["performances"] == 2
        assert stats["data"]["stuck_notes"] == 0 and 0.0 < stats["data"]["notes_per_s"] < 20.0


def test_the_apps_distribution_is_scored_with_its_memory_and_its_truncation(models, tmp_path):
    from perfjam.codec.events import Note, encode_notes
    from perfjam.codec.midifile import encode_midi
    from training.scoring import AppSampling, onnx_nll

    model = PerformanceModel.load(models["plain"])
    sequences = [np.asarray(encode_midi(p, model.info.vocab)) for p in _write_midi_files(tmp_path, 2)]
    motif = [60, 64, 62, 67, 65]  # stated four times, a step higher each time: the memory knows it
    repeated = [Note(p + 2 * k, 80, (5 * k + i) * 0.2, (5 * k + i) * 0.2 + 0.15)
                for k in range(4) for i, p in enumerate(motif)]
    sequences.append(np.asarray(encode_notes(repeated, model.info.vocab)))
    mode = model.info.grammar_mode
    plain = onnx_nll(model, sequences, grammar_modes=(mode,), app=AppSampling())
    assert plain.app_mean == pytest.approx(plain.grammar_mean(mode)) and plain.truncated_fraction == 0.0
    remembered = onnx_nll(model, sequences, grammar_modes=(mode,), app=AppSampling(memory=True))
    assert remembered.app_mean != pytest.approx(plain.app_mean, abs=1e-9), "the memory changes it"
    cut = [onnx_nll(model, sequences, grammar_modes=(mode,), app=AppSampling(min_p=m)).truncated_fraction
           for m in (0.01, 0.1, 0.5)]
    assert cut[0] <= cut[1] <= cut[2] and cut[0] < cut[2], "a harder min-p cuts more real events away"


def test_evaluate_free_scores_a_conditioned_model_without_the_files_controls(models, tmp_path, capsys):
    from training import evaluate

    _write_midi_files(tmp_path, 2)
    reports = {}
    for model_key in ("conditioned", "conditioned.pt"):
        for free in (False, True):
            argv = ["--model", str(models[model_key]), "--midi-dir", str(tmp_path)]
            argv += ["--free"] if free else []
            assert evaluate.main(argv) == 0
            reports[model_key, free] = json.loads(capsys.readouterr().out)
    assert reports["conditioned", True]["controls"] == "no-control (free)"
    assert reports["conditioned", True]["nll_per_event"] == pytest.approx(
        reports["conditioned.pt", True]["nll_per_event"], abs=1e-5), "torch and ONNX agree when free too"
    assert reports["conditioned", True]["nll_per_event"] != pytest.approx(
        reports["conditioned", False]["nll_per_event"], abs=1e-6), "the controls are really left out"
