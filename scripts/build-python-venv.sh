#!/usr/bin/env bash
# A Python virtual environment with PyPI packages that carry BoringSSL built in, for the tests of
# src/tls/boringssl (test/tls/grpcio-e2e.test.ts, boringssl-find.test.ts): grpcio (in its cygrpc
# module, without symbols) and curl_cffi (curl-impersonate, with BoringSSL's symbols in .symtab:
# the reference for a stripped copy). Made with Debian's python3 (/usr/bin/python3, as the tests
# run it), cached outside the clone:
#   $TLSOTEL_CACHE_DIR (default /var/cache/tlsotel as root, else ${XDG_CACHE_HOME:-~/.cache}/tlsotel)
#     /python-venv-PINS/bin/python   (PINS: a hash of the pinned versions below)
#
#   scripts/build-python-venv.sh          make it if missing; prints its python's path on stdout
#   scripts/build-python-venv.sh --path   prints the path only (makes nothing; it may not exist)
set -euo pipefail
pins="grpcio==1.85.3 curl_cffi==0.17.0"
if [ -n "${TLSOTEL_CACHE_DIR:-}" ]; then cache=$TLSOTEL_CACHE_DIR
elif [ "$(id -u)" = 0 ]; then cache=/var/cache/tlsotel
else cache=${XDG_CACHE_HOME:-$HOME/.cache}/tlsotel
fi
dir="$cache/python-venv-$(echo "$pins" | sha256sum | cut -c1-12)"
py="$dir/bin/python"
if [ "${1:-}" = "--path" ]; then echo "$py"; exit 0; fi
ready() { [ -x "$py" ] && "$py" -c 'import grpc, curl_cffi' 2>/dev/null; }
if ready; then echo "$py"; exit 0; fi

mkdir -p "$dir.d"
exec 9>"$dir.d/lock"
flock 9
if ready; then echo "$py"; exit 0; fi
rm -rf "$dir"
/usr/bin/python3 -m venv "$dir" >&2
# shellcheck disable=SC2086
"$py" -m pip install -q --disable-pip-version-check $pins >&2
ready
echo "$py"
