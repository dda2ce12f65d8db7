#!/usr/bin/env bash
# Run a command with a private JACK server (dummy backend, no sound card needed)
# so that python-rtmidi has real MIDI ports. The server is stopped afterwards.
# --sync: without realtime scheduling, the asynchronous mode drops or doubles MIDI
# messages for a late client on a loaded machine.
set -euo pipefail
name="perfjam-$$"
export JACK_NO_AUDIO_RESERVATION=1
# servers that died without unregistering hold slots of JACK's 8-slot table: free them first
python3 "$(dirname "$0")/jack_registry.py" || true
jackd --no-realtime --sync -n "$name" -d dummy -r 48000 -p 128 >/tmp/"$name".log 2>&1 &
jack_pid=$!
trap 'kill "$jack_pid" 2>/dev/null; wait "$jack_pid" 2>/dev/null || true' EXIT
export JACK_DEFAULT_SERVER="$name" JACK_NO_START_SERVER=1
for _ in $(seq 50); do
    jack_lsp >/dev/null 2>&1 && break
    sleep 0.1
done
jack_lsp >/dev/null 2>&1 || { echo "JACK server did not start:"; cat /tmp/"$name".log; exit 1; }
"$@"
