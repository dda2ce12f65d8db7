"""Test helper: a private X server (Xvfb) for tests that need a real window."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest


def start_xvfb(log: Path, screen: tuple[int, int]) -> tuple[subprocess.Popen, str]:
    """Xvfb on a free display of ``screen`` (width, height) pixels: (its process, ":N")."""
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_fd), "-screen", "0", "{}x{}x24".format(*screen), "-nolisten", "tcp"],
        pass_fds=(write_fd,), stdout=log.open("wb"), stderr=subprocess.STDOUT,
    )
    os.close(write_fd)
    with os.fdopen(read_fd) as f:
        number = f.readline().strip()
    if not number:
        proc.kill()
        pytest.fail(f"Xvfb did not start: {log.read_text(errors='replace')}")
    return proc, f":{number}"


def close_like_the_window(app: subprocess.Popen, log: Path) -> None:
    """SIGTERM closes the app as its close button does; it must exit cleanly."""
    app.send_signal(signal.SIGTERM)
    assert app.wait(timeout=30) == 0, log.read_text(errors="replace")


def stop(app: subprocess.Popen, xvfb: subprocess.Popen) -> None:
    """A window test's end: the app killed if it still runs (the test failed), Xvfb stopped."""
    if app.poll() is None:
        app.kill()
        app.wait()
    xvfb.terminate()
    xvfb.wait(timeout=10)
