#!/usr/bin/env bash
# Builds the Debian root that test/deploy/dockerfile.test replays the Dockerfile's steps in, in
# place of the `FROM node:20-bookworm-slim` image (no Docker engine is needed): Debian bookworm
# (minbase, as the slim images are) from Debian's mirror with debootstrap, plus this host's
# Node.js 20 at /usr/local, where the official node images keep it. Cached outside the clone
# (a few minutes to build); running this again with the root present does nothing.
# Needs root. Prints the root's path on stdout.
set -euo pipefail
CACHE="${TLSOTEL_TEST_CACHE:-/var/cache/tlsotel-test}"
ROOTFS="$CACHE/debian-bookworm-node20"
MIRROR="${TLSOTEL_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
if [ -f "$ROOTFS/.complete" ]; then
  echo "$ROOTFS"
  exit 0
fi
[ "$(id -u)" = 0 ] || { echo "build-debian-root: needs root (debootstrap)" >&2; exit 1; }
command -v debootstrap >/dev/null || { echo "build-debian-root: install debootstrap (apt-get install debootstrap)" >&2; exit 1; }
node_bin="$(command -v node)"
case "$("$node_bin" -v)" in v20.*) ;; *) echo "build-debian-root: need Node.js 20 on PATH to stand in for the node:20 image" >&2; exit 1 ;; esac
start=$(date +%s)
rm -rf "$ROOTFS.tmp"
mkdir -p "$CACHE"
echo "build-debian-root: debootstrap bookworm (minbase) from $MIRROR into $ROOTFS (takes minutes)" >&2
debootstrap --variant=minbase bookworm "$ROOTFS.tmp" "$MIRROR" >&2
# What the node image adds to Debian: node and npm under /usr/local (this host's build of the same
# major version; both are linked against bookworm's glibc).
npm_dir="$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")"
install -D -m 0755 "$node_bin" "$ROOTFS.tmp/usr/local/bin/node"
mkdir -p "$ROOTFS.tmp/usr/local/lib/node_modules"
cp -a "$npm_dir" "$ROOTFS.tmp/usr/local/lib/node_modules/npm"
ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$ROOTFS.tmp/usr/local/bin/npm"
chroot "$ROOTFS.tmp" /usr/local/bin/node -e 'process.exit(process.versions.node.startsWith("20.") ? 0 : 1)'
rm -rf "$ROOTFS.tmp/var/cache/apt/archives/"*.deb
touch "$ROOTFS.tmp/.complete"
mv "$ROOTFS.tmp" "$ROOTFS"
echo "build-debian-root: $ROOTFS built in $(( $(date +%s) - start )) s" >&2
echo "$ROOTFS"
