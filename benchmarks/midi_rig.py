"""The rig of ``benchmarks/midi_input.py`` (and of the test that proves no message is lost on a
JACK server without --sync): a private JACK server, a loaded core, a performance whose messages
can be matched one by one, and a sender process playing it like a keyboard.

    python benchmarks/midi_rig.py --sender CLIENT STREAM.json   (started by ``Sender``)
"""

from __future__ import annotations

import argparse
import faulthandler
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

WINDOW = 64  # no visible (kind, data1, data2) repeats within this many messages
PROBE = (0x8F, 0, 0)  # settles the connection; the stream never uses pitch 0
REPLUG_PITCH = 120
Message = tuple[int, int, int]


# --- JACK, load, processes ----------------------------------------------------------------------
def _die_with_parent() -> None:
    """preexec_fn: the child is killed if this process dies (a crash must not leave a jackd or a
    busy loop running)."""
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


@contextmanager
def device_threads(priority: int = 30):
    """The threads a MIDI client starts while in the block get SCHED_FIFO ``priority`` (a JACK
    server without realtime scheduling starts them at normal priority): the benchmark's keyboard
    is a device, its JACK client must not be the late one."""
    before = set(os.listdir("/proc/self/task"))
    yield
    _fifo(set(os.listdir("/proc/self/task")) - before, priority)


def _fifo(tids, priority: int) -> None:
    """SCHED_FIFO ``priority`` for the threads ``tids``, where allowed."""
    for tid in tids:
        try:
            os.sched_setscheduler(int(tid), os.SCHED_FIFO, os.sched_param(priority))
        except OSError:
            pass


def _answers(name: str) -> bool:
    env = {**os.environ, "JACK_DEFAULT_SERVER": name, "JACK_NO_START_SERVER": "1"}
    try:
        return subprocess.run(["jack_lsp"], env=env, capture_output=True, timeout=5).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@contextmanager
def jackd(name: str, sync: bool = False, log_path: Path | None = None):
    """A private dummy JACK server without realtime scheduling (and without --sync unless asked),
    exported as JACK_DEFAULT_SERVER while in the block; yields the log's path."""
    log_path = log_path or Path(tempfile.gettempdir()) / f"{name}.log"
    flags = ["--no-realtime", *(["--sync"] if sync else []), "-n", name, "-d", "dummy", "-r", "48000",
             "-p", "128"]
    saved = {k: os.environ.get(k) for k in ("JACK_DEFAULT_SERVER", "JACK_NO_START_SERVER")}
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(["jackd", *flags], stdout=log, stderr=subprocess.STDOUT,
                                env={**os.environ, "JACK_NO_AUDIO_RESERVATION": "1"},
                                preexec_fn=_die_with_parent)
    try:
        deadline = time.monotonic() + 10
        while not _answers(name):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"jackd did not start: {log_path.read_text(errors='replace')}")
            time.sleep(0.05)
        os.environ["JACK_DEFAULT_SERVER"], os.environ["JACK_NO_START_SERVER"] = name, "1"
        yield log_path
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def late_reports(log_path: Path) -> int:
    """jackd's "... not finished" lines: a client that did not finish its cycle in time."""
    return sum("not finished" in line for line in log_path.read_text(errors="replace").splitlines())


@contextmanager
def core_loaded(loaded: bool, cpu: int = 1):
    """A busy Python loop pinned to one core while in the block (started and stopped by its PID)."""
    if not loaded:
        yield
        return
    burner = subprocess.Popen(["taskset", "-c", str(cpu), sys.executable, "-c", "while True: pass"],
                              preexec_fn=_die_with_parent)
    try:
        time.sleep(0.3)
        yield
    finally:
        burner.kill()
        burner.wait()


class ReferenceReceiver:
    """A MIDI input that is plain C: ``jack_midi_dump`` (jackd2's example client), its JACK threads
    at SCHED_FIFO ``priority`` like the app's input client, connected to ``source`` from ``start``
    to ``stop`` (or in the block). ``received`` (once stopped): what it got, as ``visible`` tuples.
    On the same server as the app, fed by the same port, it tells what any client would have lost
    there (JACK wakes the client opened first first: compare in both orders)."""

    def __init__(self, name: str, source: str, priority: int = 30) -> None:
        self.name, self.source, self.priority = name, source, priority
        self.received: list[tuple[str, int, int]] = []
        self.ring_full = 0
        self._out = None  # jack_midi_dump's output while it runs

    def __enter__(self) -> "ReferenceReceiver":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        self._out = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen(["jack_midi_dump", self.name], stdout=self._out,
                                     stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
        port, deadline = f"{self.name}:input", time.monotonic() + 10
        while subprocess.run(["jack_connect", self.source, port], capture_output=True).returncode != 0:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"jack_midi_dump did not start or could not connect to {self.source}")
            time.sleep(0.05)
        tids = set(os.listdir(f"/proc/{self.proc.pid}/task")) - {str(self.proc.pid)}  # its main thread prints
        _fifo(tids, self.priority)

    def stop(self) -> None:
        """Stops the client and reads what it received (once stopped: nothing more)."""
        if self._out is None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._out.seek(0)
        for line in self._out:
            self.ring_full += "ringbuffer was full" in line
            head = line.split(":", 1)
            if len(head) == 2 and head[0].strip().isdigit():
                data = head[1].split()
                try:
                    message = tuple(int(b, 16) for b in data[:3])
                except ValueError:
                    continue
                if len(message) == 3:
                    self.received.append(visible(message))
        self._out.close()
        self._out = None


# --- the performance --------------------------------------------------------------------------------
def _synthetic_player(rng: random.Random, channel: int, seconds: float) -> list[tuple[float, Message]]:
    """Phrases of single notes and chords (1-3 notes, a few ms apart) and a pedal that moves in
    strokes (CC64 every 10-20 ms, down and up over 0.3-0.8 s) then rests."""
    out: list[tuple[float, Message]] = []
    t = 0.0
    while t < seconds:
        for _ in range(rng.randint(1, 3)):
            pitch = rng.randint(28, 100)
            start = t + rng.uniform(0.0, 0.015)
            out.append((start, (0x90 | channel, pitch, rng.randint(20, 110))))
            end = start + rng.uniform(0.05, 0.6)
            off = (0x80 | channel, pitch, 64) if rng.random() < 0.5 else (0x90 | channel, pitch, 0)
            out.append((end, off))
        t += rng.uniform(0.06, 0.3)
    t = rng.uniform(0.0, 0.5)
    while t < seconds:
        stroke_s, start = rng.uniform(0.3, 0.8), t
        while t < start + stroke_s:
            phase = (t - start) / stroke_s
            out.append((t, (0xB0 | channel, 64, round(127 * (1 - abs(2 * phase - 1))))))
            t += rng.uniform(0.010, 0.020)
        t += rng.uniform(0.05, 0.6)
    return out


def _file_player(path: Path, channel: int, seconds: float) -> list[tuple[float, Message]]:
    import mido

    out: list[tuple[float, Message]] = []
    t = 0.0
    for msg in mido.MidiFile(str(path)):
        t += msg.time
        if t > seconds:
            break
        if msg.type in ("note_on", "note_off") and msg.note > 0:
            status = 0x90 if msg.type == "note_on" else 0x80
            out.append((t, (status | channel, msg.note, msg.velocity)))
        elif msg.type == "control_change" and msg.control == 64:
            out.append((t, (0xB0 | channel, 64, msg.value)))
    return out


def performance(messages: int, seed: int = 1, midi_dir: Path | None = None,
                seconds_per_player: float = 60.0) -> list[tuple[float, Message]]:
    """``messages`` (time_s, message), several players at once on channels 0.. (each a real
    performance's first ``seconds_per_player`` from ``midi_dir`` when given, else synthetic),
    with unique visible data bytes (see ``uniquify``)."""
    rng = random.Random(seed)
    files = sorted(midi_dir.rglob("*.mid")) if midi_dir else []
    rng.shuffle(files)
    merged: list[tuple[float, Message]] = []
    channel = 0
    while len(merged) < messages:
        if files:
            part = _file_player(files.pop(), channel % 15, seconds_per_player)
        else:
            part = _synthetic_player(rng, channel % 15, seconds_per_player)
        merged += part
        channel += 1
    merged.sort(key=lambda item: item[0])
    return uniquify(merged[:messages])


def visible(message: Message) -> tuple[str, int, int]:
    """What the synth receives of a message: (kind, pitch/control, velocity/value); channels and
    note-off velocities do not reach it."""
    kind = message[0] & 0xF0
    if kind == 0x90 and message[2] > 0:
        return "on", message[1], message[2]
    if kind in (0x80, 0x90):
        return "off", message[1], 0
    return "cc", message[1], message[2]


def uniquify(stream: list[tuple[float, Message]]) -> list[tuple[float, Message]]:
    """Nudge note-on velocities and CC values to the nearest value not seen with the same key in
    the last ``WINDOW`` messages (note-offs are left as they are)."""
    recent: list[tuple[str, int, int]] = []
    out = []
    for time_s, message in stream:
        kind, a, b = visible(message)
        if kind != "off":
            low = 1 if kind == "on" else 0
            taken = {v for k, x, v in recent[-WINDOW:] if k == kind and x == a}
            b = min((v for v in range(low, 128) if v not in taken), key=lambda v, b=b: (abs(v - b), v))
            message = (message[0], a, b)
        recent.append((kind, a, b))
        out.append((time_s, message))
    return out


def match(sent: list[Message], received: list[tuple[str, int, int]]) -> dict:
    """Align what the synth received with what was sent (order kept, as JACK keeps it): each
    received message is the next expected one, or a repeat of one just matched (duplicated), or
    a later one (those skipped were lost). Returns counts and ``pairs`` (received i, sent j)."""
    keys = [visible(m) for m in sent]
    lost: dict[str, int] = {}
    duplicated: dict[str, int] = {}
    unknown, pairs, ptr, lost_at = 0, [], 0, []
    for i, got in enumerate(received):
        if ptr < len(keys) and keys[ptr] == got:
            pairs.append((i, ptr))
            ptr += 1
            continue
        if got in keys[max(0, ptr - 8):ptr]:
            duplicated[got[0]] = duplicated.get(got[0], 0) + 1
            continue
        ahead = next((j for j in range(ptr, min(len(keys), ptr + WINDOW)) if keys[j] == got), None)
        if ahead is None:
            unknown += 1
            continue
        for j in range(ptr, ahead):
            lost[keys[j][0]] = lost.get(keys[j][0], 0) + 1
            lost_at.append(j)
        pairs.append((i, ahead))
        ptr = ahead + 1
    for j in range(ptr, len(keys)):
        lost[keys[j][0]] = lost.get(keys[j][0], 0) + 1
        lost_at.append(j)
    return {"lost": sum(lost.values()), "lost_by_kind": lost, "duplicated": sum(duplicated.values()),
            "duplicated_by_kind": duplicated, "unknown": unknown, "pairs": pairs, "lost_at": lost_at}


def summary_ms(values_s: list[float]) -> dict:
    if not values_s:
        return {"count": 0}
    v = sorted(values_s)
    pick = lambda q: round(v[min(len(v) - 1, int(q * len(v)))] * 1000, 3)  # noqa: E731
    return {"count": len(v), "p50_ms": pick(0.5), "p99_ms": pick(0.99), "max_ms": round(v[-1] * 1000, 3),
            "min_ms": round(v[0] * 1000, 3)}


# --- the sender process ------------------------------------------------------------------------------
def sender_main(client: str, stream_path: Path) -> None:
    """Commands on stdin, one per line: "probe", "play" (the stream; prints the send times as
    JSON), "replug N" (N times: close, 1 s away, reopen, probes every 2 ms for 1 s; prints the
    reopen times as JSON), "quit"."""
    from perfjam.live.realtime import lock_realtime_pages, raise_priority
    from perfjam.midi_io import MidiOutput

    raise_priority(20)  # a keyboard is a device: its timing must not suffer from our load,
    lock_realtime_pages()  # nor wait for the disk
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    stream = [(t, tuple(m)) for t, m in json.loads(stream_path.read_text())]
    with device_threads():
        keys = MidiOutput("keys", api="jack", virtual=True, client_name=client)
    print("ready", flush=True)
    for line in sys.stdin:
        command = line.split()
        if not command or command[0] == "quit":
            break
        if command[0] == "probe":
            keys.send(PROBE)
        elif command[0] == "play":
            sent_s = [0.0] * len(stream)
            start = time.perf_counter() + 0.05
            for i, (t, message) in enumerate(stream):
                delay = start + t - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                sent_s[i] = time.perf_counter()
                keys.send(message)
            print(json.dumps(sent_s), flush=True)
        elif command[0] == "replug":
            opened: list[list[float]] = []
            for i in range(int(command[1])):
                keys.close()
                time.sleep(1.0)
                before = time.perf_counter()
                with device_threads():
                    keys = MidiOutput("keys", api="jack", virtual=True, client_name=client)
                after = time.perf_counter()
                opened.append([before, after])
                until = after + 1.0
                while time.perf_counter() < until:
                    keys.send((0x9F, REPLUG_PITCH, i + 1))
                    keys.send((0x8F, REPLUG_PITCH, 0))
                    time.sleep(0.002)
            print(json.dumps(opened), flush=True)
    keys.close()


class Sender:
    def __init__(self, client: str, stream: list[tuple[float, Message]], folder: Path) -> None:
        path = folder / f"{client}.json"
        path.write_text(json.dumps(stream))
        self.proc = subprocess.Popen([sys.executable, __file__, "--sender", client, str(path)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                     preexec_fn=_die_with_parent)
        if self.proc.stdout.readline().strip() != "ready":
            raise RuntimeError("the sender did not start")

    def command(self, text: str, answer: bool = False):
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline()) if answer else None

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.command("quit")
                self.proc.wait(10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sender", nargs=2, metavar=("CLIENT", "STREAM"), required=True)
    args = p.parse_args(argv)
    faulthandler.enable()
    sender_main(args.sender[0], Path(args.sender[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
