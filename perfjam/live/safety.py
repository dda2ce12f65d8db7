"""The engine's safety nets, looked at every ``SAFETY_CHECK_S`` between turns on the engine thread
(``loop``: its ``perfjam.live.loop.EngineLoop``): nothing may hang and the sound comes back.

* an AI note the stream lost track of is released (the model's own notes end at the stream's
  note-length limit), and so are the AI's notes when it has stopped generating while they sound
  (counted: ``Engine.stats()["ai_released_idle"]``; nothing should leave them so);
* a human key whose note-off never came (a lost MIDI message, a stuck key) is released after
  ``human_stuck_note_s``, and the status says so;
* the synth's audio, when its JACK server went away, is reopened once it is back (``AudioKeeper``).
"""

from __future__ import annotations

from perfjam.codec.events import STEPS_PER_SECOND
from perfjam.controls import pitch_name
from perfjam.live.clock import AiNote
from perfjam.live.outlets import NOTE_OFF

SAFETY_CHECK_S = 0.1
OVERDUE_MARGIN_S = 1.0  # past the stream's own limit before an AI note counts as lost track of


def check_safety(loop, now_s: float) -> None:
    loop.audio.check(now_s)
    cfg, outlets, stream = loop.cfg, loop.outlets, loop.stream
    limit_s = stream.max_note_steps / STEPS_PER_SECOND / loop.clock.speed + OVERDUE_MARGIN_S
    for pitch in outlets.overdue_ai(now_s, limit_s, stream.reader.sounding):
        loop.sender.send_now(AiNote(now_s, pitch, 0, False, -1, stream.step))
    if stream.reader.sounding and not loop.policy.active and not stream.pending:
        loop.ai_released_idle += len(stream.reader.sounding)
        stream.discard_to_now(loop.clock.step_at(now_s))
        loop.release_ai()
    stuck = outlets.stuck_human_keys(now_s, cfg.human_stuck_note_s)
    for pitch in stuck:
        loop.play_human(now_s, (NOTE_OFF | outlets.human_ch, pitch, 0))
    if stuck:
        names = ", ".join(pitch_name(p) for p in stuck)
        loop.error(f"released {names}: no note-off came for {cfg.human_stuck_note_s:g} s "
                   "(a lost MIDI message, or a stuck key)")
