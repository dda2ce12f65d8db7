"""Priorities of the threads other libraries start for us (no heavy imports; Linux, else no-ops).

A JACK server without realtime scheduling (``jackd --no-realtime``, as many desktops run it)
starts its clients' threads, the process thread included, at normal priority whatever the
priority of the thread that opened the client: on a busy machine they wait for a CPU behind any
other process and miss JACK cycles (without --sync: MIDI messages lost or doubled, audio
dropouts). ``threads_started_at`` gives the threads a block starts (found in /proc/self/task)
SCHED_FIFO when allowed; a realtime JACK server's threads, already realtime, are left alone.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

CLIENT_PRIORITY_STEP = 10  # a MIDI/audio client's threads run this far above the engine thread


def _tasks() -> set[str]:
    try:
        return set(os.listdir("/proc/self/task"))
    except OSError:
        return set()


@contextmanager
def threads_started_at(fifo_priority: int, nice: int = 0) -> Iterator[None]:
    """Threads started while in the block and still at normal priority get SCHED_FIFO
    ``fifo_priority`` (> 0), else (not allowed, or 0) the nice level ``nice`` when below 0.
    Another thread of the process starting one meanwhile would be raised too: keep it short."""
    before = _tasks()
    try:
        yield
    finally:
        for tid in _tasks() - before:
            try:
                if os.sched_getscheduler(int(tid)) != os.SCHED_OTHER:
                    continue
                if fifo_priority > 0:
                    try:
                        fifo = min(fifo_priority, os.sched_get_priority_max(os.SCHED_FIFO))
                        os.sched_setscheduler(int(tid), os.SCHED_FIFO, os.sched_param(fifo))
                        continue
                    except OSError:
                        pass
                if nice < 0:
                    os.setpriority(os.PRIO_PROCESS, int(tid), nice)
            except (AttributeError, OSError):
                pass


@contextmanager
def above_this_thread(step: int = CLIENT_PRIORITY_STEP) -> Iterator[None]:
    """``threads_started_at`` a step above the calling thread: SCHED_FIFO p -> p + step (so that
    they preempt its work: equal FIFO priorities never preempt each other), a nice level -> the
    same nice level, normal priority -> left as they are."""
    try:
        policy = os.sched_getscheduler(0)
        priority = os.sched_getparam(0).sched_priority
        nice = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    except (AttributeError, OSError):
        yield
        return
    fifo = priority + step if policy in (os.SCHED_FIFO, os.SCHED_RR) else 0
    with threads_started_at(fifo, nice):
        yield
