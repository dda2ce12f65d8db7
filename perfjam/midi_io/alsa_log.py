"""ALSA's library messages, kept instead of printed: on a machine without a sound card (or whose
card another program holds) FluidSynth's try of its ALSA audio driver makes alsa-lib print eight
lines ("ALSA lib confmisc.c:855:(parse_card) cannot find card '0'" ...) on the terminal, and
python-rtmidi's ALSA MIDI prints its own when /dev/snd/seq is missing. ``install()`` points the
error handler of every libasound loaded in this process at a callback that keeps the last
``KEPT`` messages for a Details button (``messages()``).

alsa-lib's handler is variadic (file, line, function, err, fmt, ...): the callback takes the
fixed arguments and keeps the format unformatted (its values are not needed to say what failed).
It runs on whichever thread alsa-lib reports from, taking the GIL: alsa-lib reports only when
opening a device or a configuration fails, never while audio runs. No Qt, no rtmidi calls.
"""

from __future__ import annotations

import ctypes
from collections import deque

from perfjam.midi_io.native_libs import CopyHooks

KEPT = 50

_messages: deque[str] = deque(maxlen=KEPT)


def _text(value: bytes | None) -> str:
    return (value or b"").decode("utf-8", "replace")


def _keep(file: bytes | None, line: int, function: bytes | None, err: int, fmt: bytes | None) -> None:
    where = f"{_text(file)}:{line}:({_text(function)})"
    _messages.append(f"ALSA lib {where} {_text(fmt).strip()}" + (f" (error {err})" if err else ""))


_HANDLER = ctypes.CFUNCTYPE(None, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_int,
                            ctypes.c_char_p)(_keep)  # kept alive as long as the module


_copies = CopyHooks("/libasound.so", lambda lib: lib.snd_lib_error_set_handler(_HANDLER))


def install() -> int:
    """Keep the messages of every libasound loaded now; again later for one loaded since.
    Returns how many copies are hooked."""
    return _copies.install()


def messages() -> list[str]:
    """The last messages alsa-lib gave, oldest first."""
    return list(_messages)
