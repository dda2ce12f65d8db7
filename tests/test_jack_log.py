"""Without a JACK server the terminal stays quiet (issue 11, §1): libjack's five lines per try are
kept by ``midi_io.jack_log`` instead of printed, and the window's port lister tries again after a
backoff (1, 2, 4, 8, 8 ... s) instead of every poll."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402

from perfjam import midi_io  # noqa: E402
from perfjam.gui.ports import RETRY_FIRST_S, RETRY_MAX_S, PersistentLister  # noqa: E402
from perfjam.midi_io import jack_log  # noqa: E402

NOISE = "Cannot connect to server socket"


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def no_jack_server(monkeypatch):
    monkeypatch.setenv("JACK_DEFAULT_SERVER", f"perfjam-nobody-{os.getpid()}")  # no such server runs
    monkeypatch.setenv("JACK_NO_START_SERVER", "1")


def _said() -> int:
    return jack_log.message_count()


def test_without_jack_nothing_is_printed_and_the_lister_backs_off(no_jack_server, capfd):
    clock = Clock()
    lister = PersistentLister("jack", clock=clock)
    seen = []
    for step_s in (0.0, 0.5, 0.6, 1.0, 2.1, 3.0, 5.0, 7.9, 0.2):  # seconds between calls
        clock.t += step_s
        before = _said()
        with pytest.raises(midi_io.MidiError, match="jack"):
            lister()
        seen.append(_said() > before)  # libjack spoke: a client was tried
    # it tries at 0 s, then after each backoff: 1.1 s (1 s), 4.2 s (2), 12.2 s (4), 20.3 s (8)
    assert seen == [True, False, True, False, True, False, True, False, True]
    assert any(NOISE in m for m in jack_log.messages())  # kept for a Details button
    assert lister.retry_s == RETRY_MAX_S and RETRY_FIRST_S < RETRY_MAX_S
    err = capfd.readouterr().err
    assert NOISE not in err and "jack server is not running" not in err, err
    assert jack_log.install() >= 1  # rtmidi's libjack (bundled with its wheel) is hooked


def test_a_working_listing_resets_the_backoff(jack_server):
    clock = Clock()
    lister = PersistentLister("jack", clock=clock)
    lister.retry_s = RETRY_MAX_S  # as after a long outage
    try:
        inputs, outputs = lister()
        assert isinstance(inputs, list) and isinstance(outputs, list)
        assert lister.retry_s == RETRY_FIRST_S and lister.api == "jack"
    finally:
        lister.close()
