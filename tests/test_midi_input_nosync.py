"""No MIDI message doubled, and no more lost than a plain C client loses, on a JACK server as
many desktops run it: no --sync, no realtime scheduling, one core kept busy by another process,
the engine playing along.

This test starts its own server (the others share tools/with-jack.sh's --sync server). 10,000
messages (note-ons, note-offs, CC64 every 10-20 ms while a pedal moves; four players at once)
go from a sender process (a keyboard) into the engine's input; what reaches the synth is matched
one by one with what was sent (benchmarks/midi_rig.py; the figures: benchmarks/midi_input.py).
A plain C client on the same port in the same run (jack_midi_dump) is the witness of what the
server and the machine lose for any client.

Zero lost is not what any client gets here, the C one included. A reader that misses a cycle of
such a server loses that cycle's messages, and on this VM the host delays the wake-up of a vCPU
it is not running: ftrace in this test's condition shows the app's input thread woken onto the
loaded core at a cycle's start and running 3.3 ms later, after the next cycle had begun (its
message lost), while the C client on the other core ran at once. Which reader sits on that core
is chance, and JACK wakes the one opened first first, which the host's stalls hit the more (with
the synth's audio on the server, the app's input thread opened first waited over a period after
82 of its wake-ups in a 40-s run, the C client's 18). So the C client opens first, and the app
is held to what the witness loses alone: in 4 runs of real performances the app lost 3, 0, 5, 0
messages that the C client received, the C client 6, 7, 0, 4 that the app received; in 12 runs
of this test's stream the app none, the C client 16 in one. With a Python callback on JACK's
thread the app lost 140-392 and doubled 61-166, whatever the host did.

Only a run in which the host took less than 1 % of the VM's CPU time judges the app (up to three
runs; if none is calm the test says so and skips): in a CI run with 4.7 % stolen the app lost 31
messages alone and the C client 9.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.jack, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[1]
MAX_LOST_ALONE = 10  # of 10,000, lost by the app and received by the C client (see the docstring)
MAX_LOST = 20  # lost by the app in all: alone, or with the C client (the keyboard's client late)
CALM_STEAL_SHARE = 0.01  # of the CPU time while playing: a host that took less did not stall this VM
ATTEMPTS = 3  # runs until one is calm


def _benchmark(name: str):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _steal_share(result: dict) -> float:
    """The share of this VM's CPU time the hypervisor took while the stream played."""
    cpu_jiffies = result["stream_seconds"] * (os.cpu_count() or 1) * os.sysconf("SC_CLK_TCK")
    return result["steal_jiffies_while_playing"] / cpu_jiffies


@pytest.mark.timeout(60 + 120 * ATTEMPTS)
def test_without_sync_under_load_nothing_is_doubled_and_losses_stay_at_a_c_clients(tmp_path):
    if not all(shutil.which(tool) for tool in ("jackd", "jack_midi_dump", "taskset")):
        pytest.skip("needs jackd and jack_midi_dump (apt install jackd2) and taskset")
    from perfjam.model import find_model

    rig, bench = _benchmark("midi_rig"), _benchmark("midi_input")
    stream = rig.performance(10_000, seed=3, seconds_per_player=40.0)
    assert len(stream) == 10_000
    shown = ("lost", "lost_by_kind", "duplicated", "duplicated_by_kind", "unknown", "reference",
             "lost_by_both", "jackd_late_reports", "jackd_late_reports_while_playing",
             "steal_jiffies_while_playing", "doubled_note_ons_dropped", "engine_turn_ms", "locked_mb",
             "lost_examples")
    stalled = []
    for attempt in range(ATTEMPTS):
        folder = tmp_path / str(attempt)
        folder.mkdir()
        with rig.jackd(f"perfjam-nosync-{os.getpid()}-{attempt}", sync=False,
                       log_path=folder / "jackd.log") as log:
            result = bench.run_condition(str(find_model("perfjam-dynamics")), stream, loaded=True,
                                         folder=folder, log_path=log, audio=False, reference_first=True)
        summary = {"steal_share": round(_steal_share(result), 4), **{k: result[k] for k in shown}}
        assert result["unknown"] == 0, summary  # nothing received that was not sent
        if summary["steal_share"] >= CALM_STEAL_SHARE:
            stalled.append(summary)
            continue
        summary = json.dumps(summary)  # whole in the failure message
        assert result["duplicated"] == 0, summary
        assert result["lost"] - result["lost_by_both"] <= MAX_LOST_ALONE, summary
        assert result["lost"] <= MAX_LOST, summary
        # An arrival stamp is the middle of its bracket (perfjam.midi_io.arrival), so it may
        # precede the send by up to half a bracket (one of 10,000 did in one CI run of three here).
        assert result["stamp_minus_send_ms"]["stamps_before_send_by_over_1ms"] == 0, \
            result["stamp_minus_send_ms"]
        return
    pytest.skip(f"the host took >= {CALM_STEAL_SHARE:.0%} of this VM's CPU time in each of {ATTEMPTS} "
                f"runs, so none could judge the app: {json.dumps(stalled)}")
