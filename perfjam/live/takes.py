"""The engine's takes (``Takes``): the recording in progress and the ones still being finished.
Engine thread only; the writing itself runs on each ``Recorder``'s own thread.

A take is never lost: ``start`` journals to disk from the first message (``perfjam.recorder``),
``stop`` hands the take to its writer to finish while the engine plays on, and the engine's stop
waits for every take still finishing (one not finished in time stays a journal, recovered at the
next start). Errors come back as lines for an ``ErrorReport``.
"""

from __future__ import annotations

from perfjam.recorder import AI, HUMAN, Recorder, default_recording_path

__all__ = ["AI", "HUMAN", "Takes"]


class Takes:
    def __init__(self) -> None:
        self.current: Recorder | None = None
        self.finishing: list[Recorder] = []

    def add(self, time_s: float, track: int, message) -> None:
        """A message of ``track`` (HUMAN or AI) at wall ``time_s``, if recording."""
        if self.current is not None:
            self.current.add(time_s, track, message)

    def start(self, path, speed: float, now_s: float) -> str | None:
        """Start recording to ``path`` (None: a new file in the recordings folder; a ``Recorder``:
        one its owner opened already, to be told at once when it cannot record); an error line."""
        if self.current is not None:
            return f"already recording to {self.current.path}"
        try:
            recorder = path if isinstance(path, Recorder) else Recorder(path or default_recording_path(),
                                                                        speed=speed)
            recorder.start(now_s)
        except OSError as exc:
            return f"cannot record: {exc}"
        self.current = recorder
        return None

    def stop(self) -> bool:
        """Stop recording (the take is finished in the background); False if none was running."""
        if self.current is None:
            return False
        self.current.stop()
        self.finishing.append(self.current)
        self.current = None
        return True

    def check(self) -> list[str]:
        """Errors of the take in progress (it stops) and of takes finished since the last check."""
        errors = []
        for recorder in [self.current, *self.finishing]:
            while recorder is not None and recorder.notices:  # e.g. the take moved (its folder was removed)
                errors.append(recorder.notices.pop(0))
        if self.current is not None and self.current.error:
            errors.append(self.current.error)
            self.current = None
        for done in [r for r in self.finishing if not r.running]:
            self.finishing.remove(done)
            if done.error:
                errors.append(done.error)
        return errors

    def close(self, timeout_s: float = 30.0) -> list[str]:
        """Stop recording and wait for every take still finishing; their errors."""
        self.stop()
        errors = []
        for recorder in self.finishing:
            recorder.wait(timeout_s)
            errors += recorder.notices
            if recorder.error:
                errors.append(recorder.error)
        self.finishing.clear()
        return errors
