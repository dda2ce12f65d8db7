"""Range checks of the numbers given on a command line (``perfjam jam``, ``perfjam generate``): a
bad one is one line naming the option, then exit 2, never a traceback or a runaway (a NaN
temperature silenced the AI while memory grew 45 MB/s; a look-ahead of 1e9 ms, 37 MB/s)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

MAX_TEMPERATURE = 10.0  # beyond it sampling is all but uniform
MAX_SEED = 2**63 - 1


def number_problem(flag: str, value: float | None, low: float, high: float,
                   low_open: bool = False) -> str | None:
    """Why ``value`` is not a finite number in [low, high] (``low_open``: (low, high]), or None
    (also for an option not given)."""
    if value is None:
        return None
    if math.isfinite(value) and (low < value if low_open else low <= value) and value <= high:
        return None
    interval = f"{'(' if low_open else '['}{low:g}, {high:g}]"
    return f"{flag} must be a number in {interval}, not {value:g}"


def first_problem(args: Any, ranges: Iterable[tuple[str, float, float, bool]]) -> str | None:
    """The first option of ``ranges`` ((attribute, low, high, low_open), ...) out of its range."""
    for name, low, high, low_open in ranges:
        problem = number_problem("--" + name.replace("_", "-"), getattr(args, name), low, high, low_open)
        if problem:
            return problem
    return None


def seed_problem(seed: int | None, outputs: int = 1) -> str | None:
    if seed is None or 0 <= seed and seed + outputs - 1 <= MAX_SEED:
        return None
    return f"--seed must be an integer in [0, {MAX_SEED - outputs + 1}], not {seed}"
