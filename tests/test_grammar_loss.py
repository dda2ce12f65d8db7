"""The grammar's distributions in torch (training.grammar_loss) agree with numpy's, the two scoring
paths (torch batched, ONNX step by step) agree under the grammar, the data-set check, and the
grammar metadata of an export."""

from __future__ import annotations

import json

import numpy as np
import pytest

from perfjam.codec.events import VOCAB_DYNAMICS, VOCAB_NO_DYNAMICS, Note, encode_notes
from perfjam.codec.grammar import (
    GRAMMAR_MODES,
    RENORMALIZE,
    TYPE_PRESERVING,
    grammar_log_probs,
    sequence_masks,
)

torch = pytest.importorskip("torch")
from training.evaluate_lib import stream_nll, stream_scores  # noqa: E402
from training.export_onnx import build_metadata, export_checkpoint, write_random_checkpoint  # noqa: E402
from training.grammar_loss import grammar_log_softmax, grammar_nll, packed_file_masks, unpack_masks  # noqa: E402
from training.model import ModelConfig, PerformanceRNN  # noqa: E402
from training.scoring import onnx_nll  # noqa: E402

VOCABS = [VOCAB_DYNAMICS, VOCAB_NO_DYNAMICS]


def performances(vocab, count: int = 4, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        starts = np.sort(rng.uniform(0, 6, 15 + 10 * i))
        notes = [Note(int(rng.integers(48, 84)), int(rng.integers(20, 120)), float(s),
                      float(s + rng.uniform(0.05, 1.5))) for s in starts]
        out.append(np.asarray(encode_notes(notes, vocab), np.int64))
    return out


@pytest.mark.parametrize("vocab", VOCABS, ids=lambda v: v.name)
@pytest.mark.parametrize("known_start", [True, False])
def test_torch_and_numpy_distributions_agree(vocab, known_start):
    rng = np.random.default_rng(1)
    files = performances(vocab)
    length = min(len(f) for f in files) - 5
    rows = np.stack([f[5 : 5 + length] if not known_start else f[:length] for f in files])
    masks = sequence_masks(rows, vocab, known_start)
    logits = rng.normal(scale=3.0, size=(*rows.shape, vocab.size))
    logits[..., 128:256] += 1.5
    for mode in GRAMMAR_MODES:
        want = grammar_log_probs(logits, masks, vocab, mode)
        got = grammar_log_softmax(torch.from_numpy(logits), torch.from_numpy(masks), vocab, mode).numpy()
        finite = np.isfinite(want)
        np.testing.assert_array_equal(np.isfinite(got), finite)
        np.testing.assert_allclose(got[finite], want[finite], rtol=0, atol=1e-6)
        targets = torch.from_numpy(rows[:, 1:])
        inputs, input_masks = torch.from_numpy(logits[:, :-1]), torch.from_numpy(masks[:, :-1])
        nll = grammar_nll(inputs, targets, input_masks, vocab, mode)
        if known_start:  # (a window cut where two notes of a pitch are open may exclude one)
            assert torch.isfinite(nll).all(), "every target of encoder output is allowed"


def test_the_type_preserving_loss_has_finite_gradients_where_no_note_off_is_allowed():
    logits = torch.randn(2, 3, VOCAB_DYNAMICS.size, dtype=torch.float64, requires_grad=True)
    masks = torch.from_numpy(sequence_masks(np.array([[356 + 5, 60, 256 + 3]] * 2), VOCAB_DYNAMICS))
    targets = torch.tensor([[60, 256 + 10, 128 + 60]] * 2)  # after VELOCITY: an ON; nothing open...
    for mode in (TYPE_PRESERVING, RENORMALIZE):
        loss = grammar_nll(logits, targets, masks, VOCAB_DYNAMICS, mode).sum()
        (grad,) = torch.autograd.grad(loss, logits)
        assert torch.isfinite(loss) and torch.isfinite(grad).all()


def test_packed_masks_round_trip():
    (events,) = performances(VOCAB_DYNAMICS, 1)
    packed = packed_file_masks(events, VOCAB_DYNAMICS)
    assert packed.shape == (len(events), 49)
    np.testing.assert_array_equal(unpack_masks(packed, VOCAB_DYNAMICS.size),
                                  sequence_masks(events[None], VOCAB_DYNAMICS)[0])


def test_torch_and_onnx_scoring_agree_under_the_grammar(tmp_path):
    from perfjam.model import PerformanceModel

    config = ModelConfig(embedding=8, layers=1, hidden=16)
    checkpoint = write_random_checkpoint(tmp_path / "g.pt", config, seed=5)
    onnx = PerformanceModel.load(export_checkpoint(checkpoint, tmp_path / "g.onnx").path)
    model = PerformanceRNN(config)
    model.load_state_dict(torch.load(checkpoint, weights_only=False)["model"])
    files = performances(VOCAB_DYNAMICS, 5, seed=2)
    scores = stream_scores(model, files, "cpu", grammar_modes=GRAMMAR_MODES, batch_files=2, chunk_len=17)
    plain, events = stream_nll(model, files, "cpu", batch_files=3, chunk_len=40)
    assert scores.nll == pytest.approx(plain, rel=1e-6) and scores.events == events
    stepped = onnx_nll(onnx, files, grammar_modes=GRAMMAR_MODES)
    assert scores.violations == stepped.violations == 0 and stepped.events == events
    assert stepped.mean == pytest.approx(plain, rel=1e-5)
    for mode in GRAMMAR_MODES:
        assert scores.grammar_nll[mode] == pytest.approx(stepped.grammar_mean(mode), rel=1e-5)
        assert scores.grammar_nll[mode] < scores.nll, "excluding impossible events can only help"
    # An event the grammar excludes is counted and makes the grammar NLL infinite.
    broken = [np.concatenate([files[0], [128 + 1, 128 + 1]])]
    bad = stream_scores(model, broken, "cpu", grammar_modes=(TYPE_PRESERVING,))
    assert bad.violations >= 1 and bad.grammar_nll[TYPE_PRESERVING] == float("inf")


def test_export_metadata_records_the_grammar():
    model = PerformanceRNN(ModelConfig(embedding=8, layers=1, hidden=16))
    plain = build_metadata(model, {"val_nll": 3.0, "train_args": {"lr": 1e-3}}, "m", test_nll=3.1,
                           test_nll_grammar=2.9)
    assert plain["grammar_loss"] == "false" and float(plain["test_nll_grammar"]) == 2.9
    assert plain["val_nll_grammar"] == ""
    masked = build_metadata(model, {"train_args": {"grammar_loss": True}, "val_nll_grammar": 2.5}, "m")
    assert masked["grammar_loss"] == "true" and float(masked["val_nll_grammar"]) == 2.5


def test_check_grammar_reports_every_split_and_fails_on_a_violation(tmp_path, capsys):
    from training.check_grammar import main
    from training.prepare import Source, write_prepared

    vocabs = ("dynamics", "nodynamics")
    sources = [Source(f"f{i}.mid", split, f"p{i}") for i, split in enumerate(["train", "validation", "test"])]
    pairs = zip(performances(VOCAB_DYNAMICS, 3), performances(VOCAB_NO_DYNAMICS, 3), strict=True)
    encoded = [{"dynamics": f.astype(np.uint16), "nodynamics": g.astype(np.uint16)} for f, g in pairs]
    write_prepared(tmp_path / "good", sources, encoded, vocabs, [])
    assert main(["--data", str(tmp_path / "good"), "--method", "both"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["violations"] == 0
    assert set(report["vocabs"]["dynamics"]["splits"]) == {"train", "validation", "test"}
    encoded[2]["dynamics"] = np.concatenate([encoded[2]["dynamics"], [128 + 3]]).astype(np.uint16)
    write_prepared(tmp_path / "bad", sources, encoded, vocabs, [])
    assert main(["--data", str(tmp_path / "bad"), "--vocab", "dynamics"]) == 1
    test = json.loads(capsys.readouterr().out)["vocabs"]["dynamics"]["splits"]["test"]
    assert test["violations"] == 1 and ">>NOTE_OFF(3)<<" in test["examples"][0]["context"]
