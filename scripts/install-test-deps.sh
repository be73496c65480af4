#!/usr/bin/env bash
# Installs what the tests need beyond `npm ci`, from Debian's packages: the BPF toolchain (CI
# rebuilds bpf/tlsotel.bpf.o from source), and the real TLS programs the tests trace; then builds
# Jaeger and helm (needs Go) and the Debian roots (bookworm with node, trixie with its curl and
# OpenSSL 3.5), cached outside the clone.
# Idempotent; needs root (as the tests do).
set -euo pipefail
PKGS=(clang-14 llvm-14 bpftool libbpf-dev libbpf1 nginx curl wget python3 openssl libcap2-bin ca-certificates gnutls-bin golang-go debootstrap strace python3-venv openjdk-17-jdk-headless maven)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "install-test-deps: need root to install: ${missing[*]}" >&2
    exit 1
  fi
  echo "install-test-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# nginx's package may start a default server on port 80; tests start their own instances.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active -q nginx 2>/dev/null; then systemctl stop nginx || true; fi
# Jaeger v2 for the deployment tests (test/deploy): built from its Go module with the machine's Go
# the first time (minutes), cached outside the clone after that (instant).
bash "$(dirname "$0")/build-jaeger.sh" >/dev/null
# Beyond Debian's packages, cached outside the clone and built only when missing: helm for
# test/deploy/kubernetes.test.ts (from tools/helm with the Go toolchain, ~4 min the first time),
# and the Debian root that test/deploy/dockerfile.test.ts replays the Dockerfile in (~1.5 min).
bash "$(dirname "$0")/build-helm.sh" >/dev/null
bash "$(dirname "$0")/build-debian-root.sh" >/dev/null
# Python packages from PyPI that carry BoringSSL (grpcio, curl_cffi), in a virtual environment: seconds.
bash "$(dirname "$0")/build-python-venv.sh" >/dev/null
# The Java gRPC peer (grpc-java, netty-tcnative's BoringSSL) from Maven Central: a minute the first time.
bash "$(dirname "$0")/build-java-grpc.sh" >/dev/null
# Debian 13 (trixie) with its own curl and OpenSSL 3.5, for the tests of programs in another root
# (~1 min; bookworm's debootstrap and keyring know trixie).
bash "$(dirname "$0")/build-debian-trixie-root.sh" >/dev/null
echo "install-test-deps: all test dependencies present"
