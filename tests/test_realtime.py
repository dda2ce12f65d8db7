"""The engine's real-time helpers that act on the process (perfjam.live.realtime): which threads a
block started and whether any was realtime, and the library pages JACK's threads run in kept in RAM."""

from __future__ import annotations

import os
import resource
import threading

import pytest

from perfjam.live.realtime import lock_realtime_pages, threads_started_at


def _locked_kb() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmLck:"))


def test_threads_a_block_starts_are_counted_and_none_is_realtime_at_normal_priority():
    release = threading.Event()
    with threads_started_at(0) as started:
        worker = threading.Thread(target=release.wait)
        worker.start()
    release.set()
    worker.join()
    assert started.count == 1 and started.realtime == 0 and started.none_realtime


def test_a_block_that_starts_no_thread_says_nothing_about_realtime():
    with threads_started_at(0) as started:
        pass
    assert started.count == 0 and not started.none_realtime


def test_the_pages_of_the_midi_libraries_are_locked_in_ram():
    import rtmidi  # noqa: F401  (its JACK client's code must be mapped)

    soft, _ = resource.getrlimit(resource.RLIMIT_MEMLOCK)
    if os.geteuid() != 0 and soft != resource.RLIM_INFINITY and soft < 16 << 20:
        pytest.skip(f"RLIMIT_MEMLOCK is {soft} bytes: only part of the pages can be locked")
    locked, wanted = lock_realtime_pages()
    assert wanted > 1 << 20 and locked == wanted
    assert _locked_kb() * 1024 >= locked
    assert lock_realtime_pages() == (locked, wanted)  # again: the same pages


def test_no_library_asked_locks_nothing():
    assert lock_realtime_pages(()) == (0, 0)
