"""No MIDI message doubled and (nearly) none lost on a JACK server as many desktops run it: no
--sync, no realtime scheduling, one core kept busy by another process, the engine playing along.

This test starts its own server (the others share tools/with-jack.sh's --sync server). 10,000
messages (note-ons, note-offs, CC64 every 10-20 ms while a pedal moves; four players at once)
go from a sender process (a keyboard) into the engine's input; what reaches the synth is matched
one by one with what was sent (benchmarks/midi_rig.py; the figures: benchmarks/midi_input.py).
A plain C client on the same port in the same run (jack_midi_dump) tells, in the failure message,
what the server and the machine lost for every client.
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
MAX_LOST = 10  # of 10,000: see the assertion


def _benchmark(name: str):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.timeout(120)
def test_no_message_is_lost_or_doubled_without_sync_under_load(tmp_path):
    if not all(shutil.which(tool) for tool in ("jackd", "jack_midi_dump", "taskset")):
        pytest.skip("needs jackd and jack_midi_dump (apt install jackd2) and taskset")
    from perfjam.model import find_model

    rig, bench = _benchmark("midi_rig"), _benchmark("midi_input")
    stream = rig.performance(10_000, seed=3, seconds_per_player=40.0)
    assert len(stream) == 10_000
    with rig.jackd(f"perfjam-nosync-{os.getpid()}", sync=False, log_path=tmp_path / "jackd.log") as log:
        result = bench.run_condition(str(find_model("perfjam-dynamics")), stream, loaded=True,
                                     folder=tmp_path, log_path=log, audio=False)
    shown = ("lost", "lost_by_kind", "duplicated_by_kind", "unknown", "reference", "lost_by_both",
             "jackd_late_reports", "jackd_late_reports_while_playing", "steal_jiffies_while_playing",
             "engine_turn_ms", "locked_mb", "lost_examples")
    summary = json.dumps({k: result[k] for k in shown})  # whole in the failure message
    assert result["duplicated"] == 0 and result["unknown"] == 0, summary
    # With a Python callback on JACK's thread: 140-392 of 10,000 lost, 61-166 doubled. Polled (no
    # Python there), with the engine working in 1 ms slices and the pages JACK's threads run in
    # locked in RAM: 0 lost in 25 runs of this test's condition, while a plain C client on the same
    # port (jack_midi_dump) lost 9. Without the lock the app lost 19 in 5 of 28 runs (16 alone).
    # Such a server still loses messages when the VM stalls (a full CI run: 5 CC64 lost, the C
    # client 1), and the more, the more CPU time the hypervisor takes (steal_jiffies_while_playing).
    assert result["lost"] <= MAX_LOST, summary
    # An arrival stamp is the middle of its bracket (perfjam.midi_io.arrival), so it may precede the
    # send by up to half a bracket (one of 10,000 did in one CI run of three here; by how much was not kept).
    assert result["stamp_minus_send_ms"]["stamps_before_send_by_over_1ms"] == 0, result["stamp_minus_send_ms"]
