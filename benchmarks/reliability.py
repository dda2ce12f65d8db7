"""Reliability of ``perfjam jam`` as a user meets it, printed as JSON: notes lost from the take,
memory over time, time to recover a killed take, what a flood of bad MIDI does to the AI, and
how long the MIDI ports take to come back after the JACK server restarts.

    python benchmarks/reliability.py [--model NAME|PATH | --synthetic 2x256] [--seconds 60]
        [--audio] [--out FILE.json]

Everything runs on a JACK server of its own (dummy driver, --sync, no realtime scheduling, as the
tests'), the app as a real ``perfjam jam`` process; a keyboard and a listener here are polled
ports (no Python on JACK's threads). Three parts:

* ``session``: a duet of ``--seconds`` recorded to a take; the keyboard plays ~4 notes/s, and for
  one stretch in the middle also floods the input with 100 malformed messages (data bytes over
  127, wrong lengths) and 100 note-offs of keys that are up each second. Reported: the human
  notes sent and recorded, the AI notes received and recorded (a pitch the AI strikes twice in
  one millisecond is one note in the take), the AI's notes per second before
  and during the flood, the jam's RSS (MB) at start and end and its slope after the first 10 s
  (MB/min, least squares on one sample a second), and the exit status.
* ``crash``: a take recording for 5 s, the jam killed with SIGKILL, then ``perfjam recover``:
  its wall time, and the music lost at the end (the last note sent before the kill minus the
  last note recovered).
* ``jack_restart``: the server stopped and started again under a running jam with named ports:
  seconds from the server answering again to the first note played through (MIDI thru) and to
  the first AI note heard.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from live_latency import ROOT, emit, resolve_model  # noqa: E402

sys.path.insert(0, str(ROOT))

KEYS, LISTEN = "rel-keys", "rel-listen"
MALFORMED = ((0x90, 200, 90), (0x90, 60, 200), (0xB0, 7, 255), (0xE0, 130, 64), (0x90, 60))


class Server:
    """A private jackd (dummy, --sync, --no-realtime) that can be restarted."""

    def __init__(self, folder: Path) -> None:
        self.name, self.folder = f"perfjam-reliability-{os.getpid()}", folder
        self.log = open(folder / "jackd.log", "ab")  # noqa: SIM115 (closed in stop)
        os.environ.update(JACK_DEFAULT_SERVER=self.name, JACK_NO_START_SERVER="1", PERFJAM_MIDI_API="jack")
        self.proc: subprocess.Popen | None = None

    def start(self) -> float:
        """Starts it; returns the perf_counter time it answered."""
        self.proc = subprocess.Popen(["jackd", "--no-realtime", "--sync", "-n", self.name, "-d", "dummy",
                                      "-r", "48000", "-p", "128"], stdout=self.log, stderr=subprocess.STDOUT,
                                     env={**os.environ, "JACK_NO_AUDIO_RESERVATION": "1"})
        deadline = time.monotonic() + 10
        while subprocess.run(["jack_lsp"], capture_output=True).returncode != 0:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("jackd did not start")
            time.sleep(0.02)
        return time.perf_counter()

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(15)  # a killed jackd keeps its slot in JACK's server registry
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Rig:
    """A keyboard and a listener (both polled), opened on the current server."""

    def __init__(self) -> None:
        from perfjam import midi_io

        self.keys = midi_io.MidiOutput("keys", api="jack", virtual=True, client_name=KEYS)
        self.listen = midi_io.MidiInput("listen", api="jack", virtual=True, client_name=LISTEN)
        self.received: list[tuple[float, tuple[int, ...]]] = []

    def send(self, *message: int) -> float:
        self.keys._rt.send_message(list(message))  # raw: malformed ones too
        return time.perf_counter()

    def read(self) -> list[tuple[float, tuple[int, ...]]]:
        self.received += self.listen.iter_pending()
        return self.received

    def ons(self, channel: int, since: float = 0.0) -> list[float]:
        return [t for t, m in self.read() if len(m) == 3 and m[0] == 0x90 | channel and m[2] and t >= since]

    def close(self) -> None:
        self.keys.close()
        self.listen.close()


def jam(model: str, log: Path, *args: str) -> subprocess.Popen:
    """``perfjam jam`` on the rig's ports, its output to ``log``."""
    with open(log, "w") as out:
        command = [sys.executable, "-m", "perfjam", "jam", "--model", model, "--midi-in", f"{KEYS}:keys",
                   "--midi-out", f"{LISTEN}:listen", *args]
        return subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 1024


def slope_mb_per_min(samples: list[tuple[float, float]]) -> float | None:
    if len(samples) < 3:
        return None
    n = len(samples)
    mean_t, mean_m = sum(t for t, _ in samples) / n, sum(m for _, m in samples) / n
    var = sum((t - mean_t) ** 2 for t, _ in samples)
    return round(60 * sum((t - mean_t) * (m - mean_m) for t, m in samples) / var, 3) if var else None


def wait_for(predicate, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def take_notes(path: Path, track: int) -> list[tuple[float, int]]:
    """(seconds, pitch) of the note-ons of a take's Human (1) or AI (2) track."""
    import mido

    now, notes = 0, []
    for msg in mido.MidiFile(path).tracks[track]:
        now += msg.time
        if msg.type == "note_on" and msg.velocity:
            notes.append((now / 1000, msg.note))
    return notes


def session(model: str, seconds: float, audio: bool, folder: Path) -> dict:
    rig, take = Rig(), folder / "session.mid"
    proc = jam(model, folder / "session.log", "--mode", "duet", "--record", str(take),
               *([] if audio else ["--no-audio"]))
    try:
        journal = take.with_name(take.name + ".journal")
        assert wait_for(_connected, 30) and wait_for(journal.exists, 30)
        rng, sent, samples = random.Random(1), 0, []
        start = time.perf_counter()
        flood = (start + seconds * 0.5, start + seconds * 0.5 + min(10.0, seconds / 6))
        next_sample = start
        while (now := time.perf_counter()) < start + seconds:
            pitch = rng.randrange(48, 84)
            rig.send(0x90, pitch, rng.randrange(40, 110))
            sent += 1
            end = now + 0.12
            while time.perf_counter() < end:
                if flood[0] <= time.perf_counter() < flood[1]:
                    rig.send(*MALFORMED[rng.randrange(len(MALFORMED))])
                    rig.send(0x80, rng.randrange(0, 30), 0)  # a key that is up
                time.sleep(0.01)
            rig.send(0x80, pitch, 0)
            time.sleep(0.13)
            if time.perf_counter() >= next_sample:
                samples.append((time.perf_counter() - start, rss_mb(proc.pid)))
                next_sample += 1.0
            rig.read()
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        rc = proc.wait(60)
        rig.read()
    finally:
        if proc.poll() is None:
            proc.kill()
        rig.close()
    before = (flood[0] - 10, flood[0])
    ai = rig.ons(0)
    per_s = {name: round(sum(a <= t < b for t in ai) / (b - a), 2) for name, (a, b) in
             {"before_flood": before, "during_flood": flood}.items()}
    recorded = take_notes(take, 1) if take.exists() else []
    return {"exit_status": rc, "seconds": seconds, "human_notes_sent": sent,
            "human_notes_recorded": len(recorded), "human_notes_lost": sent - len(recorded),
            "ai_notes_received": len(ai),
            "ai_notes_recorded": len(take_notes(take, 2)) if take.exists() else 0,
            "ai_notes_per_s": per_s, "rss_mb_start": samples[0][1] if samples else None,
            "rss_mb_end": samples[-1][1] if samples else None,
            "rss_slope_mb_per_min": slope_mb_per_min([s for s in samples if s[0] >= 10])}


def _connected() -> bool:
    listed = subprocess.run(["jack_lsp", "-c"], capture_output=True, text=True).stdout
    return f"{KEYS}:keys" in listed and "perfjam-in" in listed and "perfjam-out" in listed


def crash(model: str, folder: Path) -> dict:
    rig, take = Rig(), folder / "crash" / "killed.mid"
    proc = jam(model, folder / "crash.log", "--mode", "call", "--no-audio", "--record", str(take))
    sent: list[float] = []
    try:
        assert wait_for(lambda: _connected() and take.with_name(take.name + ".journal").exists(), 30)
        for i in range(25):
            sent.append(rig.send(0x90, 48 + i, 90))
            time.sleep(0.1)
            rig.send(0x80, 48 + i, 0)
            time.sleep(0.1)
        proc.kill()  # SIGKILL: nothing is finished
        proc.wait()
    finally:
        rig.close()
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "perfjam", "recover", str(take.parent)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    recover_s = time.perf_counter() - started
    notes = take_notes(take, 1) if take.exists() else []
    kept = sent[len(notes) - 1] if notes else sent[0]  # the last note-on recovered, on this clock
    return {"recover_exit_status": done.returncode, "recover_s": round(recover_s, 2), "notes_sent": len(sent),
            "notes_recovered": len(notes), "music_lost_s": round(sent[-1] - kept, 2)}


def jack_restart(model: str, server: Server) -> dict:
    rig = Rig()
    proc = jam(model, server.folder / "restart.log", "--mode", "call", "--thru", "--no-audio")
    try:
        assert wait_for(_connected, 30)
        server.stop()
        back = server.start()
        rig = Rig()  # the old ports died with their server
        thru = ai = None
        deadline = time.perf_counter() + 30
        while time.perf_counter() < deadline and (thru is None or ai is None):
            rig.send(0x90, 60, 90)
            time.sleep(0.05)
            rig.send(0x80, 60, 0)
            time.sleep(0.7)  # a pause: the call-mode AI answers
            if thru is None and rig.ons(1):
                thru = rig.ons(1)[0] - back
            if ai is None and rig.ons(0):
                ai = rig.ons(0)[0] - back
        proc.send_signal(signal.SIGINT)
        proc.wait(60)
    finally:
        if proc.poll() is None:
            proc.kill()
        rig.close()
    return {"thru_back_after_s": None if thru is None else round(thru, 2),
            "ai_heard_after_s": None if ai is None else round(ai, 2)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="perfjam-dynamics")
    p.add_argument("--synthetic", metavar="LxH")
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--audio", action="store_true", help="the jam plays through FluidSynth too")
    p.add_argument("--out", type=Path)
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        os.environ["PERFJAM_RECORDINGS"] = str(folder / "recordings")
        os.environ["XDG_STATE_HOME"] = str(folder / "state")
        model = resolve_model(args, folder)
        server = Server(folder)
        server.start()
        try:
            report = {"model": Path(model).name, "jack": "dummy, --sync, --no-realtime",
                      "session": session(model, args.seconds, args.audio, folder),
                      "crash": crash(model, folder), "jack_restart": jack_restart(model, server)}
        finally:
            server.stop()
    emit(report, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
