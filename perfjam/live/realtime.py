"""The engine's real-time helpers (no heavy imports; Linux, else no-ops): thread priorities,
the pages real-time threads run in kept in RAM, the interpreter's GIL and garbage collector while
the engine runs, and constant-memory timing statistics (``TimingStat``: rolling window +
whole-run histogram).

Priorities of the threads other libraries start for us:

A JACK server without realtime scheduling (``jackd --no-realtime``, as many desktops run it)
starts its clients' threads, the process thread included, at normal priority whatever the
priority of the thread that opened the client: on a busy machine they wait for a CPU behind any
other process and miss JACK cycles (without --sync: MIDI messages lost or doubled, audio
dropouts). ``threads_started_at`` gives the threads a block starts (found in /proc/self/task)
SCHED_FIFO when allowed; a realtime JACK server's threads, already realtime, are left alone.
"""

from __future__ import annotations

import ctypes
import gc
import os
import re
import sys
import threading
from array import array
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

CLIENT_PRIORITY_STEP = 10  # a MIDI/audio client's threads run this far above the engine thread


def _tasks() -> set[str]:
    try:
        return set(os.listdir("/proc/self/task"))
    except OSError:
        return set()


@dataclass
class StartedThreads:
    """What ``threads_started_at`` found once its block ended: the threads the block started, and
    how many of them were already realtime (SCHED_FIFO/RR) when found."""

    count: int = 0
    realtime: int = 0

    @property
    def none_realtime(self) -> bool:
        """Threads were started, none of them realtime: e.g. a JACK client's on a JACK server
        without realtime scheduling (a realtime server starts its clients' process threads at
        SCHED_FIFO)."""
        return self.count > 0 and self.realtime == 0


@contextmanager
def threads_started_at(fifo_priority: int, nice: int = 0) -> Iterator[StartedThreads]:
    """Threads started while in the block and still at normal priority get SCHED_FIFO
    ``fifo_priority`` (> 0), else (not allowed, or 0) the nice level ``nice`` when below 0.
    Another thread of the process starting one meanwhile would be raised too: keep it short.
    Yields a ``StartedThreads``, filled in as the block ends."""
    before = _tasks()
    started = StartedThreads()
    try:
        yield started
    finally:
        for tid in _tasks() - before:
            try:
                policy = os.sched_getscheduler(int(tid))
            except (AttributeError, OSError):
                continue  # ended already
            started.count += 1
            if policy in (os.SCHED_FIFO, os.SCHED_RR):
                started.realtime += 1
            if policy != os.SCHED_OTHER:
                continue
            try:
                if fifo_priority > 0:
                    try:
                        fifo = min(fifo_priority, os.sched_get_priority_max(os.SCHED_FIFO))
                        os.sched_setscheduler(int(tid), os.SCHED_FIFO, os.sched_param(fifo))
                        continue
                    except OSError:
                        pass
                if nice < 0:
                    os.setpriority(os.PRIO_PROCESS, int(tid), nice)
            except OSError:
                pass


@contextmanager
def above_this_thread(step: int = CLIENT_PRIORITY_STEP) -> Iterator[StartedThreads]:
    """``threads_started_at`` a step above the calling thread: SCHED_FIFO p -> p + step (so that
    they preempt its work: equal FIFO priorities never preempt each other), a nice level -> the
    same nice level, normal priority -> left as they are."""
    try:
        policy = os.sched_getscheduler(0)
        priority = os.sched_getparam(0).sched_priority
        nice = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    except (AttributeError, OSError):
        yield StartedThreads()
        return
    fifo = priority + step if policy in (os.SCHED_FIFO, os.SCHED_RR) else 0
    with threads_started_at(fifo, nice) as started:
        yield started


def raise_priority(rt_priority: int) -> str:
    """Ask for SCHED_FIFO ``rt_priority`` for the calling thread (below JACK's, which runs at
    70+), else a nice level of -10, else nothing; the outcome in words."""
    if rt_priority <= 0 or not hasattr(os, "sched_setscheduler"):
        return "normal"
    tid = threading.get_native_id()
    try:
        os.sched_setscheduler(tid, os.SCHED_FIFO, os.sched_param(rt_priority))
        return f"SCHED_FIFO {rt_priority}"
    except OSError:
        pass
    try:
        os.setpriority(os.PRIO_PROCESS, tid, -10)
        return "nice -10"
    except OSError:
        return "normal"


# The code JACK's threads run in this process, in order of need: rtmidi's client (the MIDI ports,
# python-rtmidi's own libjack), the C/C++ runtime under it, then FluidSynth's audio driver.
REALTIME_LIBRARIES = (r"/rtmidi/_rtmidi\.", r"python_rtmidi\.libs/libjack", r"/libstdc\+\+\.so",
                      r"/libc\.so", r"/ld-linux", r"/libgcc_s\.so", r"/libpthread\.so",
                      r"/libjack\.so", r"/libfluidsynth\.so", r"/libglib-2\.0\.so", r"/libm\.so")


def lock_realtime_pages(libraries: tuple[str, ...] = REALTIME_LIBRARIES) -> tuple[int, int]:
    """Keep the pages of ``libraries`` (regexes on /proc/self/maps paths, the first first) in RAM
    (mlock), as far as RLIMIT_MEMLOCK allows (8 MiB for a desktop user by default; these are
    about 8). Without it the kernel may drop a library's code page that a JACK thread then needs
    (under memory pressure, or proactive reclaim such as DAMON's): that thread waits for the disk
    and misses its cycle, which on a server without --sync loses MIDI messages. Pages stay
    locked for the life of the process (locking again is free). Returns (bytes locked, wanted)."""
    try:
        with open("/proc/self/maps") as maps:
            mappings = [line.split() for line in maps]
        mlock = ctypes.CDLL(None, use_errno=True).mlock
    except (OSError, AttributeError):
        return 0, 0
    mlock.argtypes = (ctypes.c_void_p, ctypes.c_size_t)
    locked = wanted = 0
    seen: set[str] = set()
    for pattern in libraries:
        regex = re.compile(pattern)
        for fields in mappings:
            if len(fields) < 6 or fields[1].startswith("---") or fields[0] in seen:
                continue  # (a reserved gap has no access: nothing to lock)
            if not regex.search(fields[5]):
                continue
            seen.add(fields[0])
            start, end = (int(x, 16) for x in fields[0].split("-"))
            wanted += end - start
            if mlock(start, end - start) == 0:
                locked += end - start
    return locked, wanted


GIL_SWITCH_INTERVAL_S = 0.0002


def shorten_gil_switch() -> None:
    """Waking for a due note, a thread waits at most this long for a GIL held by another Python
    thread (the default is 5 ms); the engine's spin margin (spin_ms) absorbs it."""
    if sys.getswitchinterval() > GIL_SWITCH_INTERVAL_S:
        sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)


class QuietGC:
    """Python's cyclic GC, run by the engine thread in quiet moments instead of by whichever
    thread triggers it (a pass holds the GIL for milliseconds, hundreds with a big heap). Young
    garbage every 50 ms, older every second, all every 30 s, as far as the clearance allows."""

    def __init__(self) -> None:
        self.managing = False
        self.count = 0
        self.next_s = 0.0

    def take_over(self) -> None:
        if gc.isenabled():
            gc.collect()
            gc.freeze()
            gc.disable()
            self.managing = True

    def give_back(self) -> None:
        if self.managing:
            gc.enable()
            self.managing = False

    def due(self, now_s: float) -> bool:
        return self.managing and now_s >= self.next_s

    def collect(self, now_s: float, clearance_s: float) -> None:
        """One pass of the generation due; ``clearance_s``: time until the next due note."""
        self.count += 1
        if self.count % 600 == 0 and clearance_s > 0.05:
            gc.collect(2)
        elif self.count % 20 == 0 and clearance_s > 0.01:
            gc.collect(1)
        else:
            gc.collect(0)
        self.next_s = now_s + 0.05


_BIN_MS = 0.01  # histogram resolution
_BINS = 10_000  # 0 .. 100 ms; above goes to the last bin (the max is kept exactly)


class TimingStat:
    """Durations in seconds in, milliseconds out."""

    def __init__(self, window: int = 1024) -> None:
        self.window = array("d", [0.0]) * window
        self.size = window
        self.index = 0
        self.count = 0
        self.max_ms = 0.0
        self.hist = array("L", [0]) * _BINS

    def add(self, seconds: float) -> None:
        ms = seconds * 1000.0
        if ms < 0.0:
            ms = 0.0
        self.window[self.index] = ms
        self.index = (self.index + 1) % self.size
        self.count += 1
        if ms > self.max_ms:
            self.max_ms = ms
        b = int(ms / _BIN_MS)
        self.hist[b if b < _BINS else _BINS - 1] += 1

    def recent(self, q: float) -> float:
        """Percentile ``q`` (0..100) of the rolling window, ms (0.0 when empty)."""
        n = min(self.count, self.size)
        if not n:
            return 0.0
        values = sorted(self.window[:n] if self.count < self.size else self.window)
        return values[min(n - 1, int(q / 100.0 * n))]

    def overall(self, q: float) -> float:
        """Percentile ``q`` over the whole run from the histogram (to 0.01 ms), ms."""
        if not self.count:
            return 0.0
        target = q / 100.0 * self.count
        seen = 0
        for b, c in enumerate(self.hist):
            seen += c
            if c and seen >= target:
                return min(self.max_ms, (b + 1) * _BIN_MS)
        return self.max_ms

    def summary(self) -> dict:
        return {
            "count": self.count,
            "p50_ms": round(self.overall(50), 3),
            "p99_ms": round(self.overall(99), 3),
            "max_ms": round(self.max_ms, 3),
        }

    def reset(self) -> None:
        self.__init__(self.size)
