#!/usr/bin/env bash
# Builds Jaeger v2 (an OpenTelemetry Collector distribution with trace storage, query API and UI)
# from its Go module, for the deployment tests and examples/jaeger.sh. The version and every
# dependency are pinned by tools/jaeger/go.mod and go.sum; the binary is cached outside the clone,
# so a fresh clone on the same machine reuses it:
#   $TLSOTEL_CACHE_DIR (default /var/cache/tlsotel as root, else ${XDG_CACHE_HOME:-~/.cache}/tlsotel)
#     /jaeger-VERSION/jaeger
# A cached binary is rebuilt only when go.mod or go.sum change (their hash is kept beside it).
# Go's own caches (GOMODCACHE, GOCACHE) stay at their defaults, also outside the clone.
#
#   scripts/build-jaeger.sh          build if missing; prints the binary's path on stdout
#   scripts/build-jaeger.sh --path   prints the path only (builds nothing; it may not exist)
#
# Needs Go >= the version tools/jaeger/go.mod names (/usr/local/go/bin/go, else `go` on PATH).
# GOTOOLCHAIN=local: a Go that is too old is an error here, never a toolchain download.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
mod="$root/tools/jaeger"
version=$(awk '$1 == "github.com/jaegertracing/jaeger" { print $2; exit }' "$mod/go.mod")
if [ -z "$version" ]; then
  echo "build-jaeger: no github.com/jaegertracing/jaeger requirement in $mod/go.mod" >&2
  exit 1
fi
if [ -n "${TLSOTEL_CACHE_DIR:-}" ]; then cache=$TLSOTEL_CACHE_DIR
elif [ "$(id -u)" = 0 ]; then cache=/var/cache/tlsotel
else cache=${XDG_CACHE_HOME:-$HOME/.cache}/tlsotel
fi
dir="$cache/jaeger-$version"
bin="$dir/jaeger"
if [ "${1:-}" = "--path" ]; then echo "$bin"; exit 0; fi

stamp=$(cat "$mod/go.mod" "$mod/go.sum" | sha256sum | cut -d' ' -f1)
if [ -x "$bin" ] && [ "$(cat "$dir/stamp" 2>/dev/null)" = "$stamp" ]; then echo "$bin"; exit 0; fi

mkdir -p "$dir"
# Two runs at once (two clones, two terminals) build once: the second waits, then finds it built.
exec 9>"$dir/lock"
flock 9
if [ -x "$bin" ] && [ "$(cat "$dir/stamp" 2>/dev/null)" = "$stamp" ]; then echo "$bin"; exit 0; fi

go=/usr/local/go/bin/go
[ -x "$go" ] || go=$(command -v go || true)
if [ -z "$go" ]; then
  echo "build-jaeger: Go is not installed; Jaeger $version is built from source with Go (https://go.dev/doc/install, into /usr/local/go)" >&2
  exit 1
fi
need=$(awk '$1 == "go" { print $2; exit }' "$mod/go.mod")
have=$("$go" env GOVERSION | sed 's/^go//')
if [ "$(printf '%s\n%s\n' "$need" "$have" | sort -V | head -1)" != "$need" ]; then
  echo "build-jaeger: $go is Go $have; Jaeger $version needs Go >= $need" >&2
  exit 1
fi

echo "build-jaeger: building Jaeger $version with Go $have into $bin (a few minutes the first time)" >&2
t0=$(date +%s)
(cd "$mod" && GOTOOLCHAIN=local GOFLAGS="-mod=readonly -buildvcs=false" "$go" build -o "$bin.tmp" github.com/jaegertracing/jaeger/cmd/jaeger)
mv -f "$bin.tmp" "$bin"
echo "$stamp" >"$dir/stamp"
echo "build-jaeger: built in $(( $(date +%s) - t0 ))s" >&2
echo "$bin"
