#!/usr/bin/env bash
# The Debian 13 (trixie) root of the tests of OpenSSL as another distribution builds it
# (test/run/foreign-root.test.ts, test/tls/openssl-internals.test.ts, test/tls/tls-version.test.ts):
# trixie's own curl with its libssl 3.5 and libgnutls 3.8, and util-linux's mount tools inside
# (the test's pivot_root leaves the host's tree and unmounts it from inside). The one place that
# names the package list: install-test-deps.sh and the tests call this. Prints the root's path.
set -euo pipefail
exec bash "$(dirname "$0")/build-debian-suite-root.sh" trixie curl ca-certificates mount
