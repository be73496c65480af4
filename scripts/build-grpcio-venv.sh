#!/usr/bin/env bash
# A Python virtual environment with grpcio from PyPI, for test/tls/grpcio-e2e.test.ts (grpcio's
# wheel carries BoringSSL built into its cygrpc module without symbols). Made with Debian's
# python3 (/usr/bin/python3, as the tests run it), cached outside the clone:
#   $TLSOTEL_CACHE_DIR (default /var/cache/tlsotel as root, else ${XDG_CACHE_HOME:-~/.cache}/tlsotel)
#     /grpcio-VERSION/bin/python
#
#   scripts/build-grpcio-venv.sh          make it if missing; prints its python's path on stdout
#   scripts/build-grpcio-venv.sh --path   prints the path only (makes nothing; it may not exist)
set -euo pipefail
version=1.85.3
if [ -n "${TLSOTEL_CACHE_DIR:-}" ]; then cache=$TLSOTEL_CACHE_DIR
elif [ "$(id -u)" = 0 ]; then cache=/var/cache/tlsotel
else cache=${XDG_CACHE_HOME:-$HOME/.cache}/tlsotel
fi
dir="$cache/grpcio-$version"
py="$dir/bin/python"
if [ "${1:-}" = "--path" ]; then echo "$py"; exit 0; fi
if [ -x "$py" ] && "$py" -c 'import grpc' 2>/dev/null; then echo "$py"; exit 0; fi

mkdir -p "$cache"
exec 9>"$cache/grpcio-$version.lock"
flock 9
if [ -x "$py" ] && "$py" -c 'import grpc' 2>/dev/null; then echo "$py"; exit 0; fi
rm -rf "$dir"
/usr/bin/python3 -m venv "$dir" >&2
"$py" -m pip install -q --disable-pip-version-check "grpcio==$version" >&2
"$py" -c 'import grpc' >&2
echo "$py"
