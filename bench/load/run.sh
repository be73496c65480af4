#!/usr/bin/env bash
# `npm run bench [-- ARGS]`: installs the bench's tools, builds the agent, runs the load bench.
#   BENCH_SKIP_INSTALL=1  skip bench/load/install-deps.sh
#   BENCH_SKIP_BUILD=1    skip the TypeScript build (dist/ must be current)
# ARGS go to dist/bench/load/bench.js (--quick, --reps N, --duration S, --rows, --loads, --out DIR; --help).
set -euo pipefail
cd "$(dirname "$0")/../.."
[ -n "${BENCH_SKIP_INSTALL:-}" ] || bash bench/load/install-deps.sh
# tsc emits even when some file has type errors; the bench then says what it could not run.
[ -n "${BENCH_SKIP_BUILD:-}" ] || npx tsc -p tsconfig.json || echo "bench: tsc reported errors (above); running what it emitted" >&2
exec node dist/bench/load/bench.js "$@"
