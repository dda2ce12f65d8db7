"""Shared pytest fixtures."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator

import jackd
import pytest


# --- the user's private state (the key recordings' pointers are signed with) ----------------------------
@pytest.fixture(scope="session", autouse=True)
def private_state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """$XDG_STATE_HOME in a temporary folder for the whole session (and the processes it starts):
    tests never write into the real home's state."""
    saved = os.environ.get("XDG_STATE_HOME")
    os.environ["XDG_STATE_HOME"] = str(tmp_path_factory.mktemp("state"))
    yield os.environ["XDG_STATE_HOME"]
    if saved is None:
        os.environ.pop("XDG_STATE_HOME", None)
    else:
        os.environ["XDG_STATE_HOME"] = saved


# --- JACK ------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def jack_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The name of a running JACK server (dummy backend: no sound card needed), exported to this
    process as JACK_DEFAULT_SERVER with JACK_NO_START_SERVER=1. Reuses the server tools/with-jack.sh
    started, else starts a private one for the session and stops it afterwards.

    The private server runs in synchronous mode (--sync): without realtime scheduling on a busy
    machine, a client that misses a cycle in JACK2's default asynchronous mode makes the next client
    read its stale MIDI buffer again (messages duplicated) or miss one (messages lost)."""
    if shutil.which("jack_lsp") is None:
        pytest.skip("jack_lsp not installed (apt install jackd2)")
    running = os.environ.get("JACK_DEFAULT_SERVER")
    if running and jackd.answers():
        os.environ["JACK_NO_START_SERVER"] = "1"
        yield running
        return
    name = f"perfjam-test-{os.getpid()}"
    log_path = tmp_path_factory.mktemp("jack") / "jackd.log"
    saved = {key: os.environ.get(key) for key in ("JACK_DEFAULT_SERVER", "JACK_NO_START_SERVER")}
    with open(log_path, "wb") as log:
        proc = jackd.start(name, log)
    try:
        os.environ["JACK_DEFAULT_SERVER"] = name
        os.environ["JACK_NO_START_SERVER"] = "1"
        yield name
    finally:
        jackd.stop(proc)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


# --- GUI: tiny random models exported to ONNX (torch only here, never in the app) -------------------
@pytest.fixture(scope="session")
def gui_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Paths of two tiny random ONNX models: "plain" (no controls) and "conditioned"."""
    torch = pytest.importorskip("torch")
    export_onnx = pytest.importorskip("training.export_onnx")
    from perfjam.controls import CONTROL_SIZE
    from training.model import ModelConfig, PerformanceRNN

    root = tmp_path_factory.mktemp("gui-models")
    configs = {
        "plain": ModelConfig(layers=1, hidden=64, embedding=32, dropout=0.0),
        "conditioned": ModelConfig(layers=1, hidden=64, embedding=32, dropout=0.0, control_size=CONTROL_SIZE),
    }
    paths = {}
    for key, config in configs.items():
        torch.manual_seed(0)
        model = PerformanceRNN(config).eval()
        metadata = export_onnx.build_metadata(model, {}, f"tiny-{key}")
        paths[key] = str(export_onnx.export_model(model, root / f"tiny-{key}.onnx", metadata))
    return paths


# --- engine: tiny random models biased toward notes (real sampling), exported through export_onnx ----
def _biased_checkpoint(path, note_on: float, note_off: float, shift: float, control_size: int = 0):
    """A tiny random PerformanceRNN whose read-out bias favours NOTE_ON 48..84, NOTE_OFF and
    TIME_SHIFTs of 50-150 ms, saved as a training checkpoint: sampling it gives a dense, piano-like
    stream (about 6 notes/s, a few voices) instead of mostly silence."""
    import torch

    from training.model import ModelConfig, PerformanceRNN

    config = ModelConfig(layers=1, hidden=64, embedding=32, dropout=0.0, control_size=control_size)
    torch.manual_seed(0)
    model = PerformanceRNN(config)
    with torch.no_grad():
        bias = model.head.bias
        bias.zero_()
        bias[48:85] += note_on
        bias[128:256] += note_off
        bias[256 + 4 : 256 + 15] += shift
    torch.save({"config": config.to_dict(), "model": model.state_dict(), "step": 0, "epoch": 0}, path)
    return path


@pytest.fixture(scope="session")
def engine_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """ONNX paths: "dense" (plain), "conditioned" (with controls), "holding" (never releases a
    note by itself), "nan_on_high_notes" (fails once it plays a NOTE_ON 80..84), "corrupt" (not ONNX)."""
    pytest.importorskip("torch")
    export_onnx = pytest.importorskip("training.export_onnx")
    from perfjam.controls import CONTROL_SIZE

    root = tmp_path_factory.mktemp("engine-models")
    specs = {
        "dense": (4.0, 7.0, 5.6, 0),
        "conditioned": (4.0, 7.0, 5.6, CONTROL_SIZE),
        "holding": (4.0, -30.0, 6.5, 0),
    }
    paths = {}
    for key, (note_on, note_off, shift, control_size) in specs.items():
        checkpoint = _biased_checkpoint(root / f"{key}.pt", note_on, note_off, shift, control_size)
        paths[key] = str(export_onnx.export_checkpoint(checkpoint, root / f"engine-{key}.onnx").path)
    paths["nan_on_high_notes"] = _poisoned(paths["dense"], root / "engine-nan.onnx", range(80, 85))
    corrupt = root / "corrupt.onnx"
    corrupt.write_bytes(b"\x08\x07this is not an ONNX model" * 40)
    paths["corrupt"] = str(corrupt)
    return paths


def _poisoned(onnx_path: str, out_path, tokens) -> str:
    """A copy of an exported model whose logits are NaN right after it is fed one of ``tokens``
    (a real ONNX graph: ``logits + poison[token]``, the poison row NaN for those tokens, else 0):
    a model that fails in the middle of a performance, not at warm-up. (NaN weights would not do:
    onnxruntime's LSTM clamps its gates, so NaN inputs come out finite.)"""
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(onnx_path)
    graph = model.graph
    vocab_size = graph.output[0].type.tensor_type.shape.dim[1].dim_value
    poison = np.zeros((vocab_size, vocab_size), np.float32)
    poison[list(tokens)] = np.nan
    graph.initializer.append(numpy_helper.from_array(poison, "poison"))
    last = next(node for node in graph.node if "logits" in node.output)
    last.output[list(last.output).index("logits")] = "clean_logits"
    graph.node.append(helper.make_node("Gather", ["poison", "token"], ["poison_row"], axis=0))
    graph.node.append(helper.make_node("Add", ["clean_logits", "poison_row"], ["logits"]))
    onnx.save(model, str(out_path))
    return str(out_path)


# --- engine: a keyboard and a listener on real JACK ports around a live engine ------------------------
class JamRig:
    """A test keyboard (virtual JACK output the engine reads) and a listener (virtual JACK input the
    engine sends to), plus the engines and synths started through it (all stopped at teardown)."""

    def __init__(self, tag: str) -> None:
        import queue as queue_module

        from perfjam import midi_io

        self.midi_io = midi_io
        self.kb_client, self.ls_client = f"kb{tag}", f"ls{tag}"
        self.keyboard = midi_io.MidiOutput("keys", api="jack", virtual=True, client_name=self.kb_client)
        self.listen_queue: queue_module.SimpleQueue = queue_module.SimpleQueue()
        self.listener = midi_io.MidiInput("listen", self.listen_queue, api="jack", virtual=True,
                                          client_name=self.ls_client)
        self.keyboard_port = f"{self.kb_client}:keys"
        self.listener_port = f"{self.ls_client}:listen"
        self.received: list[tuple[float, tuple[int, ...]]] = []
        self.sent: list[tuple[float, tuple[int, ...]]] = []
        self.engines: list = []
        self.synths: list = []

    def synth(self):
        from perfjam.synth import SHIPPED_SOUNDFONT, Synth, SynthConfig

        synth = Synth(SynthConfig(soundfont=SHIPPED_SOUNDFONT, audio_drivers=(), reverb=False))
        self.synths.append(synth)
        return synth

    def engine(self, model: str, synth=None, midi: dict | None = None, **config):
        from perfjam.engine import Engine, EngineConfig, MidiSettings

        settings = {"api": "jack", "input_name": self.keyboard_port, "output_name": self.listener_port,
                    **(midi or {})}
        engine = Engine(model, EngineConfig(**{"keep_heard": True, "seed": 1, **config}), synth=synth,
                        midi=MidiSettings(**settings))
        engine.start()
        self.engines.append(engine)
        return engine

    # keyboard
    def send(self, *message: int) -> float:
        t = time.perf_counter()
        self.keyboard.send(message)
        self.sent.append((t, message))
        return t

    def play(self, notes, velocity: int = 90) -> float:
        """``notes``: (pitch, duration_s, gap_after_s); returns the time of the last note-off."""
        last = time.perf_counter()
        for pitch, duration_s, gap_s in notes:
            self.send(0x90, pitch, velocity)
            time.sleep(duration_s)
            last = self.send(0x80, pitch, 0)
            time.sleep(gap_s)
        return last

    # listener
    def collect(self) -> list[tuple[float, tuple[int, ...]]]:
        import queue as queue_module

        while True:
            try:
                self.received.append(self.listen_queue.get_nowait())
            except queue_module.Empty:
                return self.received

    def notes(self, channel: int = 0, since: float = 0.0) -> list[tuple[float, int, bool]]:
        """(time_s, pitch, is_on) received on ``channel``."""
        out = []
        for t, m in self.collect():
            if t >= since and len(m) == 3 and m[0] & 0x0F == channel and m[0] & 0xF0 in (0x80, 0x90):
                out.append((t, m[1], m[0] & 0xF0 == 0x90 and m[2] > 0))
        return out

    def sounding(self, channel: int = 0) -> set[int]:
        """Pitches the listener has heard turned on and not off (All Notes Off clears)."""
        on: set[int] = set()
        for _t, m in self.collect():
            if len(m) < 3 or m[0] & 0x0F != channel:
                continue
            kind = m[0] & 0xF0
            if kind == 0x90 and m[2] > 0:
                on.add(m[1])
            elif kind in (0x80, 0x90):
                on.discard(m[1])
            elif kind == 0xB0 and m[1] in (120, 123):
                on.clear()
        return on

    def wait_for(self, predicate, timeout_s: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout_s
        while not predicate():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def close(self) -> None:
        for engine in self.engines:
            engine.stop()
        for synth in self.synths:
            synth.close()
        self.keyboard.close()
        self.listener.close()


@pytest.fixture
def jam_rig(jack_server: str, monkeypatch: pytest.MonkeyPatch, tmp_path) -> Iterator[JamRig]:
    """A JamRig on the session's JACK server; recordings go to ``tmp_path/recordings``."""
    monkeypatch.setenv("PERFJAM_MIDI_API", "jack")
    monkeypatch.setenv("PERFJAM_RECORDINGS", str(tmp_path / "recordings"))
    _rig_ids.append(len(_rig_ids))
    tag = f"{os.getpid() % 10000}x{_rig_ids[-1]}"
    rig = JamRig(tag)
    try:
        yield rig
    finally:
        rig.close()


_rig_ids: list[int] = []
