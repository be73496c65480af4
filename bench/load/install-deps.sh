#!/usr/bin/env bash
# Installs what the load bench (npm run bench) needs, from Debian's packages: wrk, nginx, h2load
# (nghttp2-client: the HTTP/2 load), the peer (sslsniff-bpfcc from bpfcc-tools; bpftrace as its
# stand-in), Go (golang-go: the Go client of the gor5k/gosmall loads, when no newer Go is
# installed), bpftool for the BPF
# run-time statistics, clang and libbpf to build the empty-probe floor — and, for bcc, kernel
# headers. Idempotent; needs root.
#
# Kernel headers: bcc compiles sslsniff at start-up against the running kernel's headers. When
# /lib/modules/$(uname -r)/build is missing (kernels not from Debian, as on VMs of this kind),
# the headers package of that exact version is used if Debian has it, else the newest
# linux-headers-*-ARCH that Debian has. The packages are unpacked (not installed: installing
# them pulls in a kernel image and an initramfs build) into /var/cache/tlsotel-bench, and
# Debian's split trees (-common + -ARCH) are merged into one, which is what bcc expects in
# BCC_KERNEL_SOURCE. Its path is written to /var/cache/tlsotel-bench/bcc-kernel-source.
set -euo pipefail
CACHE=/var/cache/tlsotel-bench
PKGS=(wrk nginx nghttp2-client openssl curl ca-certificates bpftool libbpf1 libbpf-dev clang-14 llvm-14 gcc libc6-dev
      bpfcc-tools python3-bpfcc bpftrace procps golang-go)

if [ "$(id -u)" != 0 ]; then
  echo "bench install-deps: needs root" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
updated=
apt_update() { [ -n "$updated" ] || { apt-get update -qq; updated=1; }; }

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "bench install-deps: installing ${missing[*]}"
  apt_update
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# nginx's package may start a default server on port 80; the bench starts its own.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active -q nginx 2>/dev/null; then systemctl stop nginx || true; fi

# --- kernel headers for bcc --------------------------------------------------------------------
krel=$(uname -r)
if [ -e "/lib/modules/$krel/build/include/linux/kconfig.h" ]; then
  echo "bench install-deps: kernel headers of $krel present"
  rm -f "$CACHE/bcc-kernel-source"
  exit 0
fi
if [ -s "$CACHE/bcc-kernel-source" ] && [ -e "$(cat "$CACHE/bcc-kernel-source")/include/linux/kconfig.h" ]; then
  echo "bench install-deps: kernel headers for bcc in $(cat "$CACHE/bcc-kernel-source")"
  exit 0
fi
arch=$(dpkg --print-architecture)
apt_update
if apt-cache show "linux-headers-$krel" >/dev/null 2>&1; then
  pkg="linux-headers-$krel"
else
  pkg=$(apt-cache search --names-only "^linux-headers-[0-9].*-$arch\$" | awk '{print $1}' \
        | grep -v -e '-rt-' -e '-cloud-' | sort -V | tail -1 || true)
fi
if [ -z "$pkg" ]; then
  echo "bench install-deps: no linux-headers package found: sslsniff-bpfcc will not run (the bench then uses bpftrace)" >&2
  exit 0
fi
ver=${pkg#linux-headers-}
common=$(apt-cache depends "$pkg" | awk '/Depends: linux-headers-.*-common/ {print $2; exit}')
echo "bench install-deps: running kernel $krel has no headers; unpacking $pkg${common:+ and $common} for bcc"
work="$CACHE/pkgs-$ver"
rm -rf "$work"
mkdir -p "$work/root"
(cd "$work" && apt-get download -qq "$pkg" ${common:+"$common"} 2>&1 | grep -v 'unsandboxed' || true)
for deb in "$work"/*.deb; do dpkg-deb -x "$deb" "$work/root"; done
merged="$CACHE/kheaders-$ver"
rm -rf "$merged"
mkdir -p "$merged"
[ -n "$common" ] && cp -a "$work/root/usr/src/$common/." "$merged/"
cp -a --remove-destination "$work/root/usr/src/$pkg/." "$merged/"
rm -rf "$work"
if [ ! -e "$merged/include/linux/kconfig.h" ] || [ ! -e "$merged/include/generated/autoconf.h" ]; then
  echo "bench install-deps: $merged is not a usable header tree" >&2
  exit 0
fi
echo "$merged" > "$CACHE/bcc-kernel-source"
echo "bench install-deps: BCC_KERNEL_SOURCE=$merged"
