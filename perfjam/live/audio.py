"""The synth's audio output while the engine runs (``AudioKeeper``): reopened by itself once a
JACK server that went away is back, and switched to other drivers on request (the window's
Audio and MIDI settings). Opening a FluidSynth audio driver takes ~0.1 s, so it runs on a thread
of its own (FluidSynth's calls release the GIL; the synth plays on from the engine thread
meanwhile), which then puts ``("audio_changed",)`` on the engine's inbox: a new status.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

from perfjam.recorder import normal_priority

AUDIO_RETRY_S = 2.0  # while the audio's server is away, how often reopening is tried


class AudioKeeper:
    """Engine thread only (its worker touches nothing but the synth and the inbox)."""

    def __init__(self, synth, inbox: queue.SimpleQueue) -> None:
        self.synth = synth
        self.inbox = inbox
        self.next_try_s = 0.0
        self._wanted: tuple[str, ...] | None = None  # a switch asked for while the worker was busy
        self._worker: threading.Thread | None = None

    @property
    def busy(self) -> bool:
        return self._worker is not None and self._worker.is_alive()

    def check(self, now_s: float) -> None:
        """Housekeeping: a switch that waited for the worker, or a lost driver tried again."""
        synth = self.synth
        if synth is None or self.busy:
            return
        if self._wanted is not None:
            drivers, self._wanted = self._wanted, None
            self._run(lambda: synth.restart_audio(drivers))
        elif synth.audio_lost and now_s >= self.next_try_s:
            self.next_try_s = now_s + AUDIO_RETRY_S
            self._run(synth.reconnect_audio)

    def switch(self, drivers: tuple[str, ...]) -> None:
        """Play through the first of ``drivers`` that works (none: silently, MIDI out only)."""
        if self.synth is None:
            return
        if self.busy:
            self._wanted = tuple(drivers)
        else:
            self._run(lambda: self.synth.restart_audio(tuple(drivers)))

    def _run(self, work: Callable[[], bool]) -> None:
        def job() -> None:
            normal_priority()  # not the engine thread's real-time priority
            try:
                work()
            except Exception as exc:  # a broken driver is said, never lost with the thread
                self.inbox.put(("audio_changed", f"audio: {type(exc).__name__}: {exc}"))
                return
            self.inbox.put(("audio_changed", None))

        self._worker = threading.Thread(target=job, name="perfjam-audio", daemon=True)
        self._worker.start()

    def join(self, timeout_s: float = 5.0) -> None:
        """Wait for the worker (the engine's shutdown: the synth may be closed after this)."""
        if self._worker is not None:
            self._worker.join(timeout_s)
