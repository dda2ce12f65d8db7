"""Every bad number or model is one line and exit 2, before anything opens: ``perfjam jam``'s
options (NaN, negative, out of range: a NaN temperature silenced the AI while memory grew, a
look-ahead of 1e9 ms grew it too, others gave tracebacks), a model with NaN weights or with
state sizes no model has (hidden=2e8 from its metadata: 6 GB), and ``generate``'s smaller ones (no
upper bound, a read-only output folder, Ctrl-C). The engine itself refuses such settings too."""

from __future__ import annotations

import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_bad_input import models  # noqa: F401 - tiny exported models ("plain", "nan", ...)
from test_take_safety import tmpfs

from perfjam.cli import main
from perfjam.engine import Engine, EngineConfig
from perfjam.model import ModelError, PerformanceModel

ROOT = Path(__file__).resolve().parents[1]

BAD_JAM_OPTIONS = {
    ("--temperature", "nan"): "--temperature must be a number in [0, 10], not nan",
    ("--temperature", "-1"): "--temperature must be a number in [0, 10], not -1",
    ("--lookahead-ms", "1e9"): "--lookahead-ms must be a number in [50, 2000], not 1e+09",
    ("--lookahead-ms", "0"): "--lookahead-ms must be a number in [50, 2000], not 0",
    ("--lookahead-ms", "-50"): "--lookahead-ms must be a number in [50, 2000], not -50",
    ("--speed", "0"): "--speed must be a number in (0, 100], not 0",
    ("--speed", "inf"): "--speed must be a number in (0, 100], not inf",
    ("--gap-ms", "nan"): "--gap-ms must be a number in [0, 60000], not nan",
    ("--length-s", "0"): "--length-s must be a number in (0, 3600], not 0",
    ("--top-p", "2"): "--top-p must be a number in (0, 1], not 2",
    ("--notes-per-s", "-3"): "--notes-per-s must be a number in [0, 100], not -3",
    ("--channel", "17"): "--channel must be a number in [1, 16], not 17",
    ("--seed", "-1"): "--seed must be an integer in [0, 9223372036854775807], not -1",
}


@pytest.mark.parametrize("option", sorted(BAD_JAM_OPTIONS))
def test_jam_refuses_a_bad_number_in_one_line_before_opening_anything(option, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("PERFJAM_RECORDINGS", str(tmp_path / "recordings"))
    monkeypatch.setenv("PERFJAM_MIDI_API", "no-such-api")  # it never gets as far as MIDI
    assert main(["jam", "--no-audio", *option]) == 2
    captured = capsys.readouterr()
    assert captured.err.strip() == f"perfjam jam: {BAD_JAM_OPTIONS[option]}" and captured.out == ""


def test_jam_refuses_a_model_that_cannot_play_in_one_line(models, capsys, tmp_path, monkeypatch):  # noqa: F811
    monkeypatch.setenv("PERFJAM_RECORDINGS", str(tmp_path / "recordings"))
    monkeypatch.setenv("PERFJAM_MIDI_API", "no-such-api")
    assert main(["jam", "--no-audio", "--model", str(models["nan"])]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("perfjam jam: model 'nan'") and "non-finite logits" in err and "\n" not in err


def _with_state(source: Path, out: Path, hidden: int, symbolic: bool) -> Path:
    """A copy of a real exported model whose metadata declares ``hidden`` state units (and, with
    ``symbolic``, whose graph leaves the state's dimensions open, so that only the metadata says)."""
    import onnx

    model = onnx.load(str(source))
    for prop in model.metadata_props:
        if prop.key == "hidden":
            prop.value = str(hidden)
    if symbolic:
        for value in [*model.graph.input, *model.graph.output]:
            if value.name in ("h", "c", "h_out", "c_out"):
                for dim in value.type.tensor_type.shape.dim:
                    dim.dim_param = "n"
    onnx.save(model, str(out))
    return out


@pytest.mark.parametrize(("hidden", "symbolic"), [(10**12, False), (200_000_000, True), (16, True)])
def test_a_model_declaring_an_impossible_state_is_refused_without_allocating_it(models, tmp_path, hidden,  # noqa: F811
                                                                                 symbolic):
    pytest.importorskip("onnx")
    path = _with_state(models["plain"], tmp_path / "odd.onnx", hidden, symbolic)
    before_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with pytest.raises(ModelError) as caught:
        PerformanceModel.load(path)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - before_mb < 100
    message = str(caught.value)
    assert message.startswith(str(path)) and "\n" not in message
    assert ("invalid sizes" in message) if hidden > 16 else ("(static)" in message)


def test_the_engine_refuses_numbers_that_would_run_away():
    for bad in ({"temperature": float("nan")}, {"lookahead_ms": 1e9}, {"gap_ms": float("inf")},
                {"speed": float("nan")}):
        with pytest.raises(ValueError):
            EngineConfig(**bad)
    engine = Engine.__new__(Engine)  # the commands check before anything is queued
    for call in (lambda: engine.set_temperature(float("nan")), lambda: engine.set_response(gap_ms=-1),
                 lambda: engine.set_response(length_s=float("inf")),
                 lambda: engine.set_controls(float("nan"))):
        with pytest.raises(ValueError):
            call()


# --- perfjam generate's smaller ones ---------------------------------------------------------------------
@pytest.mark.parametrize(("option", "said"), [(("--seconds", "1e9"), "at most --seconds 3600"),
                                              (("--num-outputs", "5000"), "--num-outputs 1000"),
                                              (("--seed", "-1"), "--seed must be an integer")])
def test_generate_bounds_its_numbers(models, tmp_path, capsys, option, said):  # noqa: F811
    rc = main(["generate", "--model", str(models["plain"]), "--out", str(tmp_path / "out"), *option])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.startswith("generate: ") and said in err and "\n" not in err


def test_generate_refuses_a_read_only_output_folder_before_generating(models, tmp_path, capsys):  # noqa: F811
    with tmpfs(tmp_path / "ro", 64, read_only=True) as folder:
        rc = main(["generate", "--model", str(models["plain"]), "--out", str(folder), "--seconds", "1"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err == f"generate: cannot write into {folder}: Read-only file system"


def test_ctrl_c_in_generate_keeps_what_was_written_without_a_traceback(models, tmp_path):  # noqa: F811
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "perfjam", "generate", "--model", str(models["plain"]),
                             "--out", str(out), "--seconds", "3600", "--num-outputs", "3"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not (proc.stderr and proc.poll() is None and out.exists()):  # generating (the folder is made first)
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and "generate: interrupted; 0 of 3 written" in stderr
