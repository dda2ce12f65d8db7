"""Test helper: a private X server (Xvfb) for tests that need a real window."""

from __future__ import annotations

import os
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
