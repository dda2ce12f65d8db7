"""End to end: the real ``perfjam`` app on a real X server (Xvfb), played through a JACK MIDI
keyboard port. A phrase goes in, the model answers, and a screenshot of the whole screen taken
from outside the app (ImageMagick's ``import``) must show human (teal) and AI (amber) notes in
the roll. It is kept as tests/artifacts/gui-e2e.png. SIGTERM then closes the app as its close
button does: the recording it was making is finalised with both parts."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from xvfb import close_like_the_window, start_xvfb, stop

pytestmark = [pytest.mark.slow, pytest.mark.jack]
ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "tests" / "artifacts"
SCREEN = (1400, 880)
KEYS = "PerfJam E2E Keys"
HUMAN_RGB, AI_RGB = (46, 196, 182), (255, 176, 32)  # perfjam.gui.theme.HUMAN / AI


def _c_major_phrases(seed: int = 0, phrases: int = 400) -> list:
    """Stepwise C-major melodies over a few bass notes: something to teach a toy model."""
    from perfjam.codec.events import Note

    rng = random.Random(seed)
    scale = (0, 2, 4, 5, 7, 9, 11)
    notes, t = [], 0.0
    for _ in range(phrases):
        degree = rng.randrange(7, 15)
        for _ in range(rng.randint(4, 8)):
            pitch = 48 + 12 * (degree // 7) + scale[degree % 7]
            duration = rng.choice((0.15, 0.15, 0.3, 0.3, 0.6))
            velocity = rng.randint(55, 110)
            notes.append(Note(pitch, velocity, t, t + duration * 0.9))
            if rng.random() < 0.3:
                notes.append(Note(36 + scale[rng.randrange(7)], velocity - 15, t, t + duration * 1.8))
            t += duration
            degree = max(0, min(20, degree + rng.choice((-2, -1, -1, 1, 1, 2, 3, -3))))
        t += rng.choice((0.3, 0.6))
    return notes


TOY_VERSION = "1"  # bump when the phrases or the training below change


@pytest.fixture(scope="module")
def toy_model(request, tmp_path_factory) -> Path:
    """A tiny LSTM trained for a few seconds on C-major phrases, so that its answers look like
    music in the screenshot (a random model plays noise across all 88 keys). Kept in pytest's
    cache folder between runs."""
    cache = getattr(request.config, "cache", None)  # None with -p no:cacheprovider
    folder = cache.mkdir(f"perfjam-gui-toy-{TOY_VERSION}") if cache else tmp_path_factory.mktemp("toy")
    path = folder / "toy-c-major.onnx"
    if path.is_file():
        return path
    torch = pytest.importorskip("torch")
    export_onnx = pytest.importorskip("training.export_onnx")
    from perfjam.codec.events import VOCAB_DYNAMICS, encode_notes
    from training.model import ModelConfig, PerformanceRNN

    events = np.asarray(encode_notes(_c_major_phrases(), VOCAB_DYNAMICS), dtype=np.int64)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    config = ModelConfig(layers=1, hidden=64, embedding=32, dropout=0.0)
    model = PerformanceRNN(config)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(300):
        starts = rng.integers(0, len(events) - 129, 16)
        batch = torch.from_numpy(np.stack([events[s : s + 129] for s in starts]))
        logits, _ = model(batch[:, :-1])
        targets = batch[:, 1:].reshape(-1)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, config.vocab_size), targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    partial = path.with_suffix(".partial.onnx")
    export_onnx.export_model(model, partial, export_onnx.build_metadata(model, {}, "toy-c-major"))
    partial.replace(path)
    return path


def _connected(port_suffix: str) -> bool:
    """True once some client is connected to our JACK port (False while a busy JACK server is too
    slow to answer: the caller asks again until its deadline)."""
    try:
        listing = subprocess.run(["jack_lsp", "-c"], capture_output=True, text=True, timeout=5)
    except subprocess.TimeoutExpired:
        return False
    out = listing.stdout.splitlines()
    for i, line in enumerate(out):
        if line.endswith(port_suffix) and not line.startswith(" "):
            return i + 1 < len(out) and out[i + 1].startswith(" ")
    return False


def _colour_pixels(png: Path) -> tuple[int, int]:
    """(teal, amber) pixel counts in the piano roll part of a screenshot."""
    from PySide6.QtGui import QImage

    image = QImage(str(png)).convertToFormat(QImage.Format.Format_RGB888)
    if image.isNull():
        return 0, 0
    stride = image.bytesPerLine()
    rgb = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), stride)[:, : image.width() * 3]
    rgb = rgb.reshape(image.height(), image.width(), 3)[200 : image.height() - 200, : image.width() - 320]
    rgb = rgb.astype(np.float32)

    def near(colour: tuple[int, int, int]) -> int:
        # a note's colour is the source colour blended towards the background by velocity
        target = np.asarray(colour, np.float32)
        background = np.asarray((18, 20, 25), np.float32)
        direction = target - background
        t = ((rgb - background) @ direction) / float(direction @ direction)
        residual = np.abs(rgb - (background + t[..., None] * direction)).max(axis=-1)
        return int(((t > 0.3) & (residual < 25)).sum())

    return near(HUMAN_RGB), near(AI_RGB)


def _phrase(keys) -> None:
    """An arpeggio and a little run in C, played in real time (about 2.5 s)."""
    for pitch, velocity, length_s in (
        (60, 70, 0.22), (64, 80, 0.22), (67, 90, 0.22), (72, 105, 0.45), (71, 85, 0.2), (67, 75, 0.2),
        (69, 80, 0.2), (65, 70, 0.2), (64, 95, 0.5),
    ):
        keys.note_on(0, pitch, velocity)
        if pitch == 60:
            keys.note_on(0, 48, 60)
        time.sleep(length_s)
        keys.note_off(0, pitch)
    keys.note_off(0, 48)


@pytest.mark.timeout(900)  # includes training the toy model on a busy machine
@pytest.mark.skipif(shutil.which("Xvfb") is None or shutil.which("import") is None,
                    reason="needs Xvfb and ImageMagick (apt install xvfb imagemagick)")
def test_the_real_app_answers_a_phrase_and_shows_it(jack_server, toy_model, tmp_path):
    from perfjam import midi_io

    xvfb, display = start_xvfb(tmp_path / "xvfb.log", SCREEN)
    keys = midi_io.MidiOutput(KEYS, api="jack", virtual=True)
    takes = tmp_path / "takes"
    env = {**os.environ, "DISPLAY": display, "QT_QPA_PLATFORM": "xcb", "HOME": str(tmp_path / "home"),
           "PERFJAM_RECORDINGS": str(takes)}
    app_log = tmp_path / "app.log"
    command = [sys.executable, "-m", "perfjam", "--settings", str(tmp_path / "perfjam.ini"), "--model",
               str(toy_model), "--midi-api", "jack", "--midi-in", KEYS, "--no-audio", "--mode", "call",
               "--temperature", "0.8", "--recordings", str(takes), "--record"]
    app = subprocess.Popen(command, env=env, cwd=ROOT, stdout=app_log.open("wb"), stderr=subprocess.STDOUT)
    shot = tmp_path / "shot.png"
    best: tuple[int, int] = (0, 0)
    try:
        deadline = time.monotonic() + 30
        while not _connected(KEYS):
            assert app.poll() is None, f"the app exited:\n{app_log.read_text(errors='replace')}"
            assert time.monotonic() < deadline, f"never connected:\n{app_log.read_text(errors='replace')}"
            time.sleep(0.1)
        time.sleep(1.0)  # the window is mapped and painted
        _phrase(keys)
        started = time.monotonic()
        # Screenshots until the phrase has mostly scrolled away; keep the one that shows the most
        # of both the phrase and the answer.
        peak_teal, timeline, deadline = 0, [], time.monotonic() + 30
        while time.monotonic() < deadline:
            subprocess.run(["import", "-display", display, "-window", "root", str(shot)], check=True,
                           timeout=10)
            teal, amber = _colour_pixels(shot)
            timeline.append((round(time.monotonic() - started, 1), teal, amber))
            peak_teal = max(peak_teal, teal)
            if min(teal, amber) > min(best):
                best = (teal, amber)
                ARTIFACTS.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(shot, ARTIFACTS / "gui-e2e.png")
            if peak_teal and teal < 0.3 * peak_teal:
                break
            time.sleep(0.2)
        seen = f"(s, teal, amber) after the phrase: {timeline}"
        assert best[0] > 1500, f"no human notes in the roll; {seen}"
        assert best[1] > 1500, f"no AI notes in the roll; {seen}"
        close_like_the_window(app, app_log)
    finally:
        keys.close()
        stop(app, xvfb)
    import mido

    (take,) = sorted(takes.glob("*.mid"))
    assert not list(takes.glob("*.journal")), "the recording was not finalised"
    tracks = {t.name: t for t in mido.MidiFile(str(take)).tracks}
    human = [m.note for m in tracks["Human"] if m.type == "note_on" and m.velocity > 0]
    ai = [m.note for m in tracks["AI"] if m.type == "note_on" and m.velocity > 0]
    assert human[:4] == [60, 48, 64, 67] and len(ai) >= 3
