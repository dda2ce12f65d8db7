#!/usr/bin/env bash
# Install the Debian packages named as arguments that are not installed yet.
# Needs root or passwordless sudo; otherwise says what to install and carries on.
set -euo pipefail
missing=()
for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ]; then sudo=""
elif sudo -n true 2>/dev/null; then sudo="sudo -n"
else
    echo "perfjam: please install these Debian packages: ${missing[*]}" >&2
    exit 0
fi
echo "perfjam: installing ${missing[*]}"
# jackd2 asks about realtime limits at install time: answer it up front.
echo "jackd2 jackd/tweak_rt_limits boolean false" | $sudo debconf-set-selections
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
