#!/usr/bin/env bash
# Builds a plain Debian root of another release, with that release's own packages, for the tests
# of programs that run inside another root (test/run/foreign-root.test.ts: curl and libssl 3.5
# of Debian 13 "trixie", entered as a container runtime does and with chroot). Usage:
#   build-debian-suite-root.sh SUITE PACKAGE...      e.g. build-debian-suite-root.sh trixie curl
# debootstrap (minbase) from Debian's mirror, plus the packages named. Cached outside the clone,
# one directory per suite and package list (the list is part of the name, so changing it builds
# a new root instead of reusing a root without the new packages); running this again with the
# root present does nothing. Bookworm's debootstrap (1.0.128+deb12u2) knows trixie, and its
# debian-archive-keyring has trixie's keys. Needs root. Prints the root's path on stdout.
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: build-debian-suite-root.sh SUITE [PACKAGE...]" >&2; exit 2; }
SUITE="$1"
shift
CACHE="${TLSOTEL_TEST_CACHE:-/var/cache/tlsotel-test}"
MIRROR="${TLSOTEL_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
pkgs="$(printf '%s\n' "$@" | sort -u | paste -sd, -)"
# Readable and unique: the suite, then a short hash of the sorted package list.
key="$(printf '%s' "$pkgs" | sha256sum | cut -c1-10)"
ROOTFS="$CACHE/debian-$SUITE-$key"
if [ -f "$ROOTFS/.complete" ]; then
  echo "$ROOTFS"
  exit 0
fi
[ "$(id -u)" = 0 ] || { echo "build-debian-suite-root: needs root (debootstrap)" >&2; exit 1; }
command -v debootstrap >/dev/null || { echo "build-debian-suite-root: install debootstrap (apt-get install debootstrap)" >&2; exit 1; }
[ -e "/usr/share/debootstrap/scripts/$SUITE" ] || { echo "build-debian-suite-root: this debootstrap does not know '$SUITE' (apt-get install -t bookworm-backports debootstrap, or a newer debootstrap)" >&2; exit 1; }
start=$(date +%s)
rm -rf "$ROOTFS.tmp"
mkdir -p "$CACHE"
echo "build-debian-suite-root: debootstrap $SUITE (minbase${pkgs:+, with $pkgs}) from $MIRROR into $ROOTFS (takes minutes)" >&2
debootstrap --variant=minbase ${pkgs:+--include="$pkgs"} "$SUITE" "$ROOTFS.tmp" "$MIRROR" >&2
rm -rf "$ROOTFS.tmp/var/cache/apt/archives/"*.deb
printf '%s\n' "$SUITE" "$pkgs" >"$ROOTFS.tmp/.packages"
touch "$ROOTFS.tmp/.complete"
mv "$ROOTFS.tmp" "$ROOTFS"
echo "build-debian-suite-root: $ROOTFS built in $(( $(date +%s) - start )) s" >&2
echo "$ROOTFS"
