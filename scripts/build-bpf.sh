#!/usr/bin/env bash
# Build bpf/tlsotel.bpf.o from bpf/tlsotel.bpf.c, and src/bpf/layout.generated.ts from the
# object's BTF (the event layout of bpf/tlsotel.h, for TypeScript).
#   --check   build into a temporary directory and fail if the committed files differ
#
# Reproducible: a hand-kept vmlinux.h (not the build machine's kernel), relative source paths,
# DWARF stripped (BTF kept), so the same clang gives the same bytes in any directory.
set -euo pipefail
cd "$(dirname "$0")/.."

CLANG=${CLANG:-$(command -v clang-14 || command -v clang || true)}
STRIP=${LLVM_STRIP:-$(command -v llvm-strip-14 || command -v llvm-strip || true)}
BPFTOOL=${BPFTOOL:-$(command -v bpftool || true)}
for tool in CLANG STRIP BPFTOOL; do
  if [ -z "${!tool}" ]; then
    echo "build-bpf: ${tool,,} not found; install it with: apt-get install clang-14 llvm-14 bpftool libbpf-dev" >&2
    exit 1
  fi
done
if [ ! -f /usr/include/bpf/bpf_helpers.h ]; then
  echo "build-bpf: libbpf headers not found; install them with: apt-get install libbpf-dev" >&2
  exit 1
fi

check=0
[ "${1:-}" = "--check" ] && check=1
out=bpf
layout=src/bpf/layout.generated.ts
if [ $check = 1 ]; then
  out=$(mktemp -d)
  trap 'rm -rf "$out"' EXIT
  layout=$out/layout.generated.ts
fi

(cd bpf && "$CLANG" -g -O2 -target bpf -D__TARGET_ARCH_x86 -I. -I/usr/include/x86_64-linux-gnu \
  -fdebug-prefix-map="$PWD"=. -fdebug-compilation-dir=. -Wall -Werror \
  -c tlsotel.bpf.c -o "$( [ $check = 1 ] && echo "$out" || echo . )/tlsotel.bpf.o")
"$STRIP" -g "$out/tlsotel.bpf.o"
"$BPFTOOL" btf dump file "$out/tlsotel.bpf.o" format raw -j | node scripts/gen-layout.mjs > "$layout"

if [ $check = 1 ]; then
  status=0
  if ! cmp -s "$out/tlsotel.bpf.o" bpf/tlsotel.bpf.o; then
    echo "check:bpf: bpf/tlsotel.bpf.o does not match bpf/tlsotel.bpf.c; run 'npm run build:bpf' and commit the result" >&2
    status=1
  fi
  if ! cmp -s "$layout" src/bpf/layout.generated.ts; then
    echo "check:bpf: src/bpf/layout.generated.ts does not match bpf/tlsotel.h; run 'npm run build:bpf' and commit the result" >&2
    status=1
  fi
  [ $status = 0 ] && echo "check:bpf: committed BPF object and layout match their sources"
  exit $status
fi
echo "build-bpf: wrote bpf/tlsotel.bpf.o and $layout"
