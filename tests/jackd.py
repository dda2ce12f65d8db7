"""Test helpers: JACK servers with the dummy backend (no sound card), started and stopped by tests."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

RECLAIM = Path(__file__).resolve().parent.parent / "tools" / "jack_registry.py"


def answers(env: dict[str, str] | None = None) -> bool:
    """True when ``jack_lsp`` reaches the server named by JACK_DEFAULT_SERVER (never starts one)."""
    env = {**os.environ, **(env or {}), "JACK_NO_START_SERVER": "1"}
    try:
        return subprocess.run(["jack_lsp"], env=env, capture_output=True, timeout=5).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def ports(env: dict[str, str] | None = None) -> list[str]:
    """The port names ``jack_lsp`` lists on the server named by JACK_DEFAULT_SERVER."""
    env = {**os.environ, **(env or {}), "JACK_NO_START_SERVER": "1"}
    listed = subprocess.run(["jack_lsp"], env=env, capture_output=True, text=True, timeout=5)
    return listed.stdout.split("\n")


def runs_realtime(name: str) -> bool | None:
    """Whether the jackd started with ``-n name`` runs threads at realtime priority (None: no such
    process found)."""
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            args = open(f"/proc/{pid}/cmdline", "rb").read().decode(errors="replace").split("\0")
            if not args or os.path.basename(args[0]) not in ("jackd", "jackdmp") or name not in args:
                continue
            return any(os.sched_getscheduler(int(tid)) in (os.SCHED_FIFO, os.SCHED_RR)
                       for tid in os.listdir(f"/proc/{pid}/task"))
        except OSError:
            continue
    return None


def start(name: str, log, sync: bool = True, timeout_s: float = 10.0,
          realtime: bool = False) -> subprocess.Popen:
    """A jackd named ``name`` (dummy backend, 48 kHz, 128 frames, no realtime unless asked), once
    it answers; its output goes to the open file ``log``."""
    jackd = shutil.which("jackd")
    if jackd is None:
        pytest.skip("jackd not installed (apt install jackd2); MIDI/JACK tests need a JACK server")
    subprocess.run([sys.executable, str(RECLAIM)], check=False)  # slots of servers that died
    scheduling = "--realtime" if realtime else "--no-realtime"
    proc = subprocess.Popen([jackd, scheduling, *(["--sync"] if sync else []), "-n", name, "-d", "dummy",
                             "-r", "48000", "-p", "128"], stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, "JACK_NO_AUDIO_RESERVATION": "1"})
    deadline = time.monotonic() + timeout_s
    while not answers({"JACK_DEFAULT_SERVER": name}):
        if proc.poll() is not None or time.monotonic() > deadline:
            stop(proc)
            pytest.fail(f"the JACK server {name} did not start (see {getattr(log, 'name', 'its log')})")
        time.sleep(0.05)
    return proc


def stop(proc: subprocess.Popen) -> None:
    """Stop a jackd; it may wait its client timeout (5 s) for a client stuck in a --sync cycle. Killed
    only after that: a killed jackd leaves its slot in JACK's server registry (8 slots per machine:
    enough of them and no server starts, "Too many servers already active")."""
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
