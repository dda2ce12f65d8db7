"""What the steering controls offer, as data (no widgets): the densities, the style presets that set
temperature, density and response gap together, and which pitch classes of the key asked of the
model are worth showing on the keyboard."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from perfjam.gui.settings import DEFAULT_GAP_MS
from perfjam.sampling import DEFAULT_TEMPERATURE

# (label, notes per second or None = follow the pianist); one per density bin of perfjam.controls
DENSITIES: tuple[tuple[str, float | None], ...] = (
    ("Follow me", None), ("Very sparse  (<1/s)", 0.5), ("Sparse  (1–2/s)", 1.5), ("Relaxed  (2–4/s)", 3.0),
    ("Moderate  (4–8/s)", 6.0), ("Busy  (8–16/s)", 12.0), ("Dense  (16–32/s)", 24.0),
    ("Very dense  (32–64/s)", 48.0), ("Torrent  (64+/s)", 80.0),
)
CUSTOM = "Custom"  # shown when the controls match no preset
KEY_WEIGHT_MIN = 0.05  # a pitch class asked for with more weight than this is shown as in the key


@dataclass(frozen=True)
class Preset:
    name: str
    temperature: float
    notes_per_s: float | None  # one of DENSITIES' values
    gap_ms: int
    tip: str

    @property
    def density_index(self) -> int:
        return density_index(self.notes_per_s)


PRESETS: tuple[Preset, ...] = (
    Preset("Gentle", 0.8, 1.5, 1200, "Waits for a real pause, then answers with a few calm notes."),
    # the defaults: what a fresh start plays like
    Preset("Conversational", DEFAULT_TEMPERATURE, None, DEFAULT_GAP_MS,
           "Answers soon after you pause, as busy as you play."),
    Preset("Chatty", 1.1, 6.0, 350, "Jumps in quickly with a lively answer."),
    Preset("Wild", 1.45, 24.0, 200, "Barely waits, and answers with a torrent of surprises."),
)


def density_index(notes_per_s: float | None) -> int:
    """The DENSITIES entry for a density (a value of the table)."""
    return next(i for i, (_, value) in enumerate(DENSITIES) if value == notes_per_s)


def preset_named(name: str) -> Preset | None:
    return next((p for p in PRESETS if p.name == name), None)


def matching_preset(temperature: float, density: int, gap_ms: int) -> Preset | None:
    """The preset these controls are set to, if any (temperatures to the slider's 0.01)."""
    for preset in PRESETS:
        if (round(preset.temperature, 2) == round(temperature, 2) and preset.density_index == density
                and preset.gap_ms == gap_ms):
            return preset
    return None


def key_classes(histogram: Sequence[float] | None) -> frozenset[int]:
    """The pitch classes of a pitch-class histogram asked of the model (none while it plays freely)."""
    if histogram is None:
        return frozenset()
    return frozenset(i for i, weight in enumerate(histogram) if weight > KEY_WEIGHT_MIN)
