#!/usr/bin/env bash
# PerfJam as a new user installs it: build the sdist and the wheel (the wheel from the sdist), check
# them with twine (what they hold: tests/test_packaging.py), install the wheel into a fresh venv
# outside the checkout and run it from there with a fresh HOME: `perfjam --version`, `perfjam
# generate --seconds 2` with the wheel's SoundFont (the MIDI must have notes, the WAV sound), the
# window offscreen for a few seconds, `perfjam jam` on a JACK server, and `perfjam install-desktop`
# (validated with desktop-file-validate, then --uninstall).
# Prints the wheel's size and the install time. `make check-install` runs it; so does .ci/run.
#   tools/check-install.sh [PYTHON]      (default: the checkout's .venv/bin/python, for build/twine)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dev_python=${1:-$root/.venv/bin/python}
base_python=$("$dev_python" -c 'import sys; print(sys._base_executable)')
work=$(mktemp -d /tmp/perfjam-install.XXXXXX)
trap 'rm -rf "$work"' EXIT
say() { printf 'check-install: %s\n' "$*"; }
fail() { printf 'check-install: FAILED: %s\n' "$*" >&2; exit 1; }

say "building the sdist and the wheel"
"$dev_python" -m build --outdir "$work/dist" "$root" >"$work/build.log" 2>&1 || { cat "$work/build.log"; fail "build"; }
"$dev_python" -m twine check --strict "$work"/dist/* || fail "twine check"
wheel=$(echo "$work"/dist/perfjam-*.whl)
wheel_bytes=$(stat -c %s "$wheel")

say "installing $(basename "$wheel") into a fresh venv in $work"
"$base_python" -m venv "$work/venv"
start_ns=$(date +%s%N)
"$work/venv/bin/python" -m pip install -q "$wheel"
install_ms=$(( ($(date +%s%N) - start_ns) / 1000000 ))

# A new user: the venv's bin first, a fresh HOME, nothing of the checkout on the path.
cd "$work"
mkdir -p home
export HOME="$work/home" XDG_DATA_HOME="$work/home/.local/share" XDG_CONFIG_HOME="$work/home/.config"
export PATH="$work/venv/bin:$PATH"
unset PYTHONPATH VIRTUAL_ENV
[ "$(command -v perfjam)" = "$work/venv/bin/perfjam" ] || fail "perfjam is not the venv's: $(command -v perfjam)"
python -c 'import perfjam, sys; sys.exit(not perfjam.__file__.startswith(sys.prefix))' ||
    fail "perfjam is imported from outside the venv"
python -c 'import training' 2>/dev/null && fail "the wheel installed a top-level 'training' package"

say "perfjam --version"
perfjam --version | tee version.txt
grep -q "^model: perfjam-dynamics .*$work/venv/" version.txt || fail "the shipped model is not the installed one"
grep -q "cannot be loaded" version.txt && fail "a part of --version cannot be loaded"

say "perfjam generate --seconds 2, rendered with the wheel's own SoundFont"
shipped_sf2=$(python -c 'from perfjam.synth import SHIPPED_SOUNDFONT as s; print(s)')
case "$shipped_sf2" in "$work/venv/"*) ;; *) fail "the shipped SoundFont is not the installed one: $shipped_sf2";; esac
perfjam generate --seconds 2 --seed 1 --out generated --wav --soundfont "$shipped_sf2" >generate.log 2>&1 ||
    { cat generate.log; fail "generate"; }
python - generated <<'EOF' || fail "generate wrote no notes, or silence"
import pathlib, sys, wave
import mido, numpy as np
(midi,) = pathlib.Path(sys.argv[1]).glob("*.mid")
notes = sum(1 for m in mido.MidiFile(str(midi)) if m.type == "note_on" and m.velocity > 0)
with wave.open(str(midi.with_suffix(".wav"))) as w:
    samples = np.frombuffer(w.readframes(w.getnframes()), np.int16)
rms = float(np.sqrt(np.mean(samples.astype(np.float64) ** 2))) if samples.size else 0.0
print(f"{midi.name}: {notes} notes; its WAV: RMS {rms:.0f}")
assert notes > 0 and rms > 100
EOF

say "the window, offscreen, for 5 s"
start_ns=$(date +%s%N)
rc=0
QT_QPA_PLATFORM=offscreen timeout --preserve-status -s TERM 5 perfjam >window.log 2>&1 || rc=$?
ran_ms=$(( ($(date +%s%N) - start_ns) / 1000000 ))
cat window.log
[ "$rc" -eq 0 ] || fail "the window exited with $rc"
grep -q -E "Traceback|Fatal Python error" window.log && fail "the window printed a traceback"
[ "$ran_ms" -ge 5000 ] || fail "the window closed by itself after $ran_ms ms"

QT_QPA_PLATFORM=offscreen python - <<'EOF' || fail "the window's icon does not load from the installed files"
import sys
from PySide6.QtWidgets import QApplication
from perfjam.gui.identity import identify
from perfjam.package_data import APP_ICON
app = QApplication(["perfjam"])
identify(app)
assert APP_ICON.is_relative_to(sys.prefix) and not app.windowIcon().pixmap(64, 64).isNull()
print(f"the window's icon: {APP_ICON}")
EOF

if command -v jackd >/dev/null; then
    say "perfjam jam on a JACK server, for 4 s"
    rc=0
    "$root/tools/with-jack.sh" timeout --preserve-status -s INT 4 perfjam jam >jam.log 2>&1 || rc=$?
    tr '\r' '\n' <jam.log | tail -3
    [ "$rc" -eq 0 ] || { cat jam.log; fail "perfjam jam exited with $rc"; }
    grep -q -E "Traceback|Fatal Python error" jam.log && fail "perfjam jam printed a traceback"
fi

say "perfjam install-desktop"
perfjam install-desktop
entry="$XDG_DATA_HOME/applications/perfjam.desktop"
grep -qx "Exec=$work/venv/bin/perfjam" "$entry" || fail "the entry does not start the venv's perfjam"
if command -v desktop-file-validate >/dev/null; then
    desktop-file-validate "$entry" || fail "desktop-file-validate"
else
    say "desktop-file-validate is not installed (apt install desktop-file-utils): not validated"
fi
perfjam install-desktop --uninstall
left=$(find "$XDG_DATA_HOME" -name 'perfjam*')
[ -z "$left" ] || fail "left after --uninstall: $left"

say "wheel $(basename "$wheel"): $wheel_bytes bytes; pip install into a fresh venv: $install_ms ms"
say "OK"
