#!/usr/bin/env bash
# Builds the helm binary the deployment tests render the chart with, from tools/helm (a Go module
# whose only job is to pin helm), with Go from /usr/local/go or PATH and modules from the Go
# module proxy. The binary is cached outside the clone, one directory per version, so it is
# built once per machine: running this again with the binary present does nothing.
# Prints the binary's path on stdout (everything else goes to stderr).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
MOD="$ROOT/tools/helm"
# The version is the one go.mod requires: the cache key cannot drift from what is built.
VERSION="$(awk '$1 == "helm.sh/helm/v4" { print $2 }' "$MOD/go.mod")"
[ -n "$VERSION" ] || { echo "build-helm: tools/helm/go.mod requires no helm.sh/helm/v4" >&2; exit 1; }
CACHE="${TLSOTEL_TEST_CACHE:-/var/cache/tlsotel-test}"
OUT="$CACHE/helm-$VERSION/helm"
if [ -x "$OUT" ] && "$OUT" version --short 2>/dev/null | grep -q "^$VERSION"; then
  echo "$OUT"
  exit 0
fi
GO=/usr/local/go/bin/go
[ -x "$GO" ] || GO="$(command -v go || true)"
[ -n "$GO" ] || { echo "build-helm: no Go toolchain (need Go >= 1.24, e.g. /usr/local/go/bin/go)" >&2; exit 1; }
mkdir -p "$(dirname "$OUT")"
echo "build-helm: building helm $VERSION with $("$GO" version) (takes minutes the first time)" >&2
start=$(date +%s)
# Build to a temporary name and rename: an interrupted build never leaves a half-written binary
# that the check above would take for a finished one.
(cd "$MOD" && CGO_ENABLED=0 "$GO" build -trimpath -mod=readonly \
  -ldflags "-s -w -X helm.sh/helm/v4/internal/version.version=$VERSION" \
  -o "$OUT.tmp" helm.sh/helm/v4/cmd/helm)
mv "$OUT.tmp" "$OUT"
echo "build-helm: $OUT built in $(( $(date +%s) - start )) s" >&2
echo "$OUT"
