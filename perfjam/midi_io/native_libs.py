"""The copies of a native library this process has loaded, and a hook set on each copy once:
``jack_log`` and ``alsa_log`` point libjack's and alsa-lib's message functions at their own
callbacks through it (python-rtmidi's wheel bundles its own libjack; FluidSynth links the
system's). Linux (``/proc/self/maps``); elsewhere none are found. No Qt, no rtmidi calls."""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Callable
from pathlib import Path

MAPS = Path("/proc/self/maps")


def loaded_copies(marker: str, exclude: str | None = None, maps: Path = MAPS) -> list[str]:
    """The paths of loaded libraries whose mapping contains ``marker`` (e.g. "/libjack") and not
    ``exclude`` (e.g. "libjackserver")."""
    try:
        lines = maps.read_text().splitlines()
    except OSError:
        return []
    paths = {line.split()[-1] for line in lines
             if marker in line and (exclude is None or exclude not in line)}
    return sorted(p for p in paths if p.startswith("/"))


class CopyHooks:
    """Calls ``hook(library)`` once on every copy of a library: ``install()`` again hooks the
    copies loaded since. A copy whose hook fails (no such symbol) is tried again next time."""

    def __init__(self, marker: str, hook: Callable[[ctypes.CDLL], None], exclude: str | None = None) -> None:
        self.marker, self.exclude, self.hook = marker, exclude, hook
        self.hooked: set[str] = set()
        self._lock = threading.Lock()

    def install(self) -> int:
        """Returns how many copies are hooked."""
        with self._lock:
            for path in loaded_copies(self.marker, self.exclude):
                if path in self.hooked:
                    continue
                try:
                    self.hook(ctypes.CDLL(path))
                except (OSError, AttributeError):
                    continue
                self.hooked.add(path)
            return len(self.hooked)
