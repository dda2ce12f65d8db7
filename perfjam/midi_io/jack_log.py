"""JACK's library messages, kept instead of printed: without a JACK server every attempt to open a
client (python-rtmidi's, FluidSynth's) prints five lines ("Cannot connect to server socket ...")
on the terminal, and a server that stops makes every client of the process print three more.
``install()`` points the error and info functions of every libjack loaded in this process (the
wheel of python-rtmidi bundles its own copy; FluidSynth links the system's) at a callback that
keeps the last ``KEPT`` messages for a Details button and counts the clients that lost their
server (``server_losses``): with JACK2 the kept clients of a stopped server go on listing their
old ports, so this is how a stopped server is noticed at all.

The callback runs on whichever thread libjack reports from, taking the GIL: libjack only reports
errors (a failed open, a lost server), never from a normal process cycle. No Qt, no rtmidi calls.
"""

from __future__ import annotations

import ctypes
from collections import deque

from perfjam.midi_io.native_libs import CopyHooks

KEPT = 50
# What a client of JACK2 (its notification channel) and JACK1 say when the server goes away.
LOST_SERVER = ("JackSocketClientChannel read fail", "zombified")

_messages: deque[str] = deque(maxlen=KEPT)
_losses = [0]
_count = [0]  # every message so far (the kept ones are the last KEPT)
_forever: list[object] = []


def _keep(message: bytes | None) -> None:
    text = (message or b"").decode("utf-8", "replace").strip()
    _messages.append(text)
    _count[0] += 1
    if any(marker in text for marker in LOST_SERVER):
        _losses[0] += 1


_CALLBACK = ctypes.CFUNCTYPE(None, ctypes.c_char_p)(_keep)  # kept alive as long as the module


def _hook(lib: ctypes.CDLL) -> None:
    lib.jack_set_error_function(_CALLBACK)
    lib.jack_set_info_function(_CALLBACK)


_copies = CopyHooks("/libjack", _hook, exclude="libjackserver")


def install() -> int:
    """Keep the messages of every libjack loaded now (rtmidi's is loaded here); again later for a
    libjack loaded since (FluidSynth's). Returns how many copies are hooked."""
    import rtmidi  # noqa: F401  (loads the libjack its wheel bundles)

    return _copies.install()


def messages() -> list[str]:
    """The last messages libjack gave, oldest first."""
    return list(_messages)


def message_count() -> int:
    """How many messages libjack gave since ``install()`` (a failed client open gives five)."""
    return _count[0]


def server_losses() -> int:
    """How many times a JACK client of this process has lost its server since ``install()``."""
    return _losses[0]


def keep_forever(client: object) -> None:
    """Never close nor free ``client`` (an rtmidi object whose JACK server went away): the next
    client this process opens makes libjack free every client of the dead server itself, after
    which closing one, or listing on it, crashes the process (JACK2). It is left as it is."""
    _forever.append(client)
    ctypes.pythonapi.Py_IncRef(ctypes.py_object(client))  # not freed at interpreter exit either
