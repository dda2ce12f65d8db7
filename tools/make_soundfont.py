#!/usr/bin/env python3
"""Synthesize PerfJam's own small piano SoundFont (SF2) from scratch: numpy + stdlib, no samples.

    python tools/make_soundfont.py [--out assets/soundfonts/perfjam-piano.sf2]

One mono 16-bit sample every major third (roots 22, 26, ... 106), each made by additive synthesis:
stretched (inharmonic) partials on a grid that makes the loop seamless, a bright attack whose upper
partials die away within half a second, and a short hammer noise. Each sample ends in a steady loop;
the volume envelope then decays it (faster for higher keys), and the key release damps it.
Velocity maps to attenuation (and, by FluidSynth's default modulator, to brightness).
The output is deterministic: the same bytes on every run (no RNG, no dates).
"""

from __future__ import annotations

import argparse
import math
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "assets" / "soundfonts" / "perfjam-piano.sf2"
PRESET_NAME = "PerfJam Piano"
SAMPLE_RATE_HZ = 32000
ROOT_KEYS = tuple(range(22, 107, 4))  # a sample every major third, A#0 .. A#7
PRE_LOOP_S = 0.6  # attack part before the steady loop
LOOP_S = 0.1  # approximate loop length
GUARD_FRAMES = 16  # loop continuation after the loop end (for interpolation)
SF2_ZERO_PAD = 46  # zero frames the SF2 spec requires after every sample
MAX_PARTIALS = 60

# SF2 generator numbers (SoundFont 2.01 spec, section 8.1.2)
GEN_DECAY_VOL_ENV = 36
GEN_SUSTAIN_VOL_ENV = 37
GEN_RELEASE_VOL_ENV = 38
GEN_INSTRUMENT = 41
GEN_KEY_RANGE = 43
GEN_SAMPLE_ID = 53
GEN_SAMPLE_MODES = 54
LOOP_CONTINUOUSLY = 1
# Modulator: note-on velocity, negative, concave, unipolar -> initial attenuation (48).
# It has the identity of the SF2 default velocity modulator, so it replaces it (960 cB -> ours).
MOD_SRC_VELOCITY_NEG_CONCAVE = 0x0502
GEN_INITIAL_ATTENUATION = 48
VELOCITY_ATTENUATION_CB = 720


@dataclass(frozen=True)
class PianoSample:
    name: str
    root_key: int
    data: np.ndarray  # int16, mono
    loop_start: int  # frame offsets inside data
    loop_end: int


def seconds_to_timecents(seconds: float) -> int:
    return int(round(1200.0 * math.log2(seconds)))


def decay_s_for_key(key: int) -> float:
    """Seconds for the volume envelope to fall 96 dB: long in the bass, short in the treble."""
    return 30.0 * 2.0 ** (-(key - 21) / 28.0)


def _hash_noise(n_frames: int, seed: int) -> np.ndarray:
    """Deterministic white noise in [-1, 1) from an integer hash (independent of numpy's RNGs)."""
    x = np.arange(n_frames, dtype=np.uint32) * np.uint32(2654435761) + np.uint32(seed * 97 + 13)
    x ^= x >> np.uint32(15)
    x *= np.uint32(0x2C1B3C6D)
    x ^= x >> np.uint32(12)
    x *= np.uint32(0x297A2D39)
    x ^= x >> np.uint32(15)
    return x.astype(np.float64) / 2.0**31 - 1.0


def synthesize_sample(root_key: int, sample_rate_hz: int = SAMPLE_RATE_HZ) -> PianoSample:
    f0_hz = 440.0 * 2.0 ** ((root_key - 69) / 12.0)
    cycles = max(3, round(LOOP_S * f0_hz))
    loop_frames = round(cycles * sample_rate_hz / f0_hz)
    grid_hz = sample_rate_hz / loop_frames  # every partial is a multiple of this: the loop is seamless
    pre_frames = round(PRE_LOOP_S * sample_rate_hz)
    n_frames = pre_frames + loop_frames + GUARD_FRAMES
    t_s = np.arange(n_frames, dtype=np.float64) / sample_rate_hz

    k = np.arange(1, MAX_PARTIALS + 1, dtype=np.float64)
    inharmonicity = 8e-5 * 2.0 ** ((root_key - 21) / 16.0)  # strings stiffen toward the treble
    grid_index = np.round(k * f0_hz * np.sqrt(1.0 + inharmonicity * k * k) / grid_hz)
    keep = grid_index * grid_hz < 0.45 * sample_rate_hz
    k, grid_index = k[keep], grid_index[keep]
    freq_hz = grid_index * grid_hz

    strike = 0.25 + 0.75 * np.abs(np.sin(np.pi * k / 7.5))  # hammer near 1/7.5 of the string
    peak_amp = strike / k**0.8
    sustain_amp = 0.55 * strike / k**1.2 * np.exp(-0.25 * (k - 1))
    treble = 2.0 ** ((root_key - 60) / 24.0)
    tau_s = 0.5 / (1.0 + 0.35 * (k - 1)) / treble  # upper partials fade first
    phase = (k * k * 0.7) % (2.0 * np.pi)

    fade_start = pre_frames // 2
    fade = np.ones(n_frames)
    ramp = np.arange(pre_frames - fade_start) / (pre_frames - fade_start)
    fade[fade_start:pre_frames] = 0.5 * (1.0 + np.cos(np.pi * ramp))
    fade[pre_frames:] = 0.0  # from the loop start on, every partial is steady

    amps = sustain_amp[:, None] + (peak_amp - sustain_amp)[:, None] * np.exp(-t_s[None, :] / tau_s[:, None])
    amps = sustain_amp[:, None] + (amps - sustain_amp[:, None]) * fade[None, :]
    wave = np.einsum("kn,kn->n", amps, np.sin(2.0 * np.pi * freq_hz[:, None] * t_s[None, :] + phase[:, None]))

    noise = np.convolve(_hash_noise(n_frames, root_key), np.ones(4) / 4.0, mode="same")
    wave += 0.3 * noise * np.exp(-t_s / 0.004) * fade

    attack_frames = max(2, round(0.0015 * sample_rate_hz))
    wave[:attack_frames] *= np.linspace(0.0, 1.0, attack_frames, endpoint=False)
    wave *= 0.8 * 32767.0 / np.max(np.abs(wave))
    data = np.round(wave).astype(np.int16)
    return PianoSample(f"pj{root_key:03d}", root_key, data, pre_frames, pre_frames + loop_frames)


# --- RIFF / SF2 writing ---------------------------------------------------------------------------


def _chunk(chunk_id: bytes, payload: bytes) -> bytes:
    pad = b"\0" if len(payload) % 2 else b""
    return chunk_id + struct.pack("<I", len(payload)) + payload + pad


def _list(kind: bytes, chunks: Iterable[bytes]) -> bytes:
    return _chunk(b"LIST", kind + b"".join(chunks))


def _zstr(text: str) -> bytes:
    raw = text.encode("ascii") + b"\0"
    return raw + (b"\0" if len(raw) % 2 else b"")


def _name20(text: str) -> bytes:
    return text.encode("ascii")[:19].ljust(20, b"\0")


def _gen(oper: int, amount: int) -> bytes:
    return struct.pack("<Hh", oper, amount)


def _gen_range(oper: int, lo: int, hi: int) -> bytes:
    return struct.pack("<HBB", oper, lo, hi)


def _gen_unsigned(oper: int, amount: int) -> bytes:
    return struct.pack("<HH", oper, amount)


def _mod(src: int, dest: int, amount: int, amount_src: int = 0, transform: int = 0) -> bytes:
    return struct.pack("<HHhHH", src, dest, amount, amount_src, transform)


def _key_ranges(roots: Sequence[int]) -> list[tuple[int, int]]:
    """Each root covers the keys nearest to it; the outer zones reach 0 and 127."""
    ranges = []
    for i, root in enumerate(roots):
        lo = 0 if i == 0 else (roots[i - 1] + root) // 2 + 1
        hi = 127 if i == len(roots) - 1 else (root + roots[i + 1]) // 2
        ranges.append((lo, hi))
    return ranges


def build_soundfont(samples: Sequence[PianoSample], sample_rate_hz: int = SAMPLE_RATE_HZ) -> bytes:
    info = _list(
        b"INFO",
        [
            _chunk(b"ifil", struct.pack("<HH", 2, 1)),
            _chunk(b"isng", _zstr("EMU8000")),
            _chunk(b"INAM", _zstr(PRESET_NAME)),
            _chunk(b"ISFT", _zstr("perfjam tools/make_soundfont.py")),
            _chunk(b"ICMT", _zstr("Additive-synthesis piano, no recorded samples. Apache-2.0.")),
        ],
    )

    smpl = bytearray()
    shdr = bytearray()
    for sample in samples:
        start = len(smpl) // 2
        smpl += sample.data.astype("<i2").tobytes() + bytes(2 * SF2_ZERO_PAD)
        shdr += _name20(sample.name) + struct.pack(
            "<IIIIIBbHH",
            start,
            start + len(sample.data),
            start + sample.loop_start,
            start + sample.loop_end,
            sample_rate_hz,
            sample.root_key,
            0,  # pitch correction, cents
            0,  # sample link
            1,  # mono sample
        )
    shdr += _name20("EOS") + bytes(26)
    sdta = _list(b"sdta", [_chunk(b"smpl", bytes(smpl))])

    # One instrument: a global zone (envelope, loop mode, velocity curve) and one zone per sample.
    zones_gens: list[list[bytes]] = [
        [
            _gen(GEN_SUSTAIN_VOL_ENV, 1000),  # decay toward silence while the key is held
            _gen(GEN_RELEASE_VOL_ENV, seconds_to_timecents(0.3)),  # dampers
            _gen(GEN_SAMPLE_MODES, LOOP_CONTINUOUSLY),
        ]
    ]
    zones_mods: list[list[bytes]] = [
        [_mod(MOD_SRC_VELOCITY_NEG_CONCAVE, GEN_INITIAL_ATTENUATION, VELOCITY_ATTENUATION_CB)]
    ]
    key_ranges = _key_ranges([s.root_key for s in samples])
    for index, (sample, (lo, hi)) in enumerate(zip(samples, key_ranges, strict=True)):
        zones_gens.append(
            [
                _gen_range(GEN_KEY_RANGE, lo, hi),  # keyRange must come first
                _gen(GEN_DECAY_VOL_ENV, seconds_to_timecents(decay_s_for_key(sample.root_key))),
                _gen_unsigned(GEN_SAMPLE_ID, index),  # sampleID must come last
            ]
        )
        zones_mods.append([])

    ibag, igen, imod = bytearray(), bytearray(), bytearray()
    for gens, mods in zip(zones_gens, zones_mods, strict=True):
        ibag += struct.pack("<HH", len(igen) // 4, len(imod) // 10)
        igen += b"".join(gens)
        imod += b"".join(mods)
    ibag += struct.pack("<HH", len(igen) // 4, len(imod) // 10)
    igen += bytes(4)
    imod += bytes(10)
    inst = _name20(PRESET_NAME) + struct.pack("<H", 0) + _name20("EOI") + struct.pack("<H", len(zones_gens))

    phdr = _name20(PRESET_NAME) + struct.pack("<HHHIII", 0, 0, 0, 0, 0, 0)
    phdr += _name20("EOP") + struct.pack("<HHHIII", 0, 0, 1, 0, 0, 0)
    pbag = struct.pack("<HH", 0, 0) + struct.pack("<HH", 1, 0)
    pgen = _gen_unsigned(GEN_INSTRUMENT, 0) + bytes(4)
    pmod = bytes(10)

    pdta = _list(
        b"pdta",
        [
            _chunk(b"phdr", phdr),
            _chunk(b"pbag", pbag),
            _chunk(b"pmod", pmod),
            _chunk(b"pgen", pgen),
            _chunk(b"inst", inst),
            _chunk(b"ibag", bytes(ibag)),
            _chunk(b"imod", bytes(imod)),
            _chunk(b"igen", bytes(igen)),
            _chunk(b"shdr", bytes(shdr)),
        ],
    )
    return _chunk(b"RIFF", b"sfbk" + info + sdta + pdta)


def make_soundfont_bytes(sample_rate_hz: int = SAMPLE_RATE_HZ) -> bytes:
    samples = [synthesize_sample(root, sample_rate_hz) for root in ROOT_KEYS]
    return build_soundfont(samples, sample_rate_hz)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output file (default {DEFAULT_OUT})")
    args = parser.parse_args(argv)
    data = make_soundfont_bytes()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(data)
    print(f"{args.out}: {len(data) / 1e6:.2f} MB, {len(ROOT_KEYS)} samples")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
