#!/usr/bin/env bash
# See tlsotel's spans in Jaeger on this host, without Docker. As root, from a checkout:
#   bash examples/jaeger.sh            # then open the URL it prints; Ctrl-C stops everything
# It builds Jaeger v2 the first time (scripts/build-jaeger.sh: Go, a few minutes; cached after),
# starts it with otel-config/jaeger.yaml (spans kept in memory), starts the agent sending to it,
# and makes HTTPS requests every 2 s (curl, and node's client, to examples/https-server.js).
# Ports: JAEGER_UI_ENDPOINT (localhost:16686), JAEGER_OTLP_GRPC_ENDPOINT (localhost:4317) and
# the others in otel-config/jaeger.yaml; PORT (8443) for the HTTPS server.
# The UI: Jaeger built from its Go module serves the query API but only a placeholder page for
# the UI (the UI's assets are a separate build). JAEGER_UI_ASSETS=DIR serves a jaeger-ui build
# directory; JAEGER_BIN=PATH runs a Jaeger v2 binary of yours (a release has the UI) instead.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
if [ "$(id -u)" != 0 ]; then
  echo "jaeger.sh: the agent needs root (BPF and uprobes): sudo bash examples/jaeger.sh" >&2
  exit 1
fi
jaeger=${JAEGER_BIN:-$(bash scripts/build-jaeger.sh)}
[ -f dist/src/cli/main.js ] || npm run build >/dev/null
export JAEGER_OTLP_GRPC_ENDPOINT=${JAEGER_OTLP_GRPC_ENDPOINT:-localhost:4317}
export JAEGER_UI_ENDPOINT=${JAEGER_UI_ENDPOINT:-localhost:16686}
port=${PORT:-8443}
logs=$(mktemp -d /tmp/tlsotel-jaeger.XXXXXX)

pids=()
stop() {
  trap - EXIT INT TERM
  # Newest first: the traffic, then the agent (it flushes its last spans), then Jaeger.
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill "${pids[i]}" 2>/dev/null || true
    wait "${pids[i]}" 2>/dev/null || true
  done
}
trap stop EXIT
trap 'exit 130' INT TERM

# Waits for a line in a log file while its process lives; on failure shows the log.
wait_for() { # pid file regex what
  for _ in $(seq 1 300); do
    grep -q "$3" "$2" 2>/dev/null && return 0
    kill -0 "$1" 2>/dev/null || break
    sleep 0.1
  done
  echo "jaeger.sh: $4 did not start; its log ($2):" >&2
  tail -20 "$2" >&2
  exit 1
}

"$jaeger" --config otel-config/jaeger.yaml >"$logs/jaeger.log" 2>&1 &
pids+=($!)
wait_for $! "$logs/jaeger.log" 'Everything is ready' Jaeger

# Jaeger takes spans only: the agent's own metrics would be refused (UNIMPLEMENTED) every 10 s.
OTEL_METRICS_EXPORTER=none node dist/src/cli/main.js run --otlp-endpoint "http://$JAEGER_OTLP_GRPC_ENDPOINT" >"$logs/agent.log" 2>&1 &
pids+=($!)
wait_for $! "$logs/agent.log" 'ready' 'the agent'

OTEL_SERVICE_NAME=shop-api node examples/https-server.js --port "$port" >"$logs/server.log" 2>&1 &
pids+=($!)
wait_for $! "$logs/server.log" 'listening' 'the HTTPS server'

ui="http://$JAEGER_UI_ENDPOINT"
echo "Jaeger UI:  $ui/search?service=curl   (services: curl, node, shop-api, and any other on this host)"
if curl -s "$ui/" | grep -q 'not the Jaeger UI'; then
  echo "  This Jaeger has no UI assets (see the top of $0); its API answers all the same:"
  echo "  curl -s '$ui/api/traces?service=curl&limit=5'"
fi
echo "Requests to https://127.0.0.1:$port every 2 s; logs in $logs. Ctrl-C to stop."
services() { # what Jaeger has so far (the UI's service list), from its API
  curl -s "$ui/api/services" | node -e '
    let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () =>
      console.log(((JSON.parse(s).data || []).sort().join(", ")) || "none yet"));'
}
i=0
while true; do
  i=$((i + 1))
  curl -sk -o /dev/null "https://127.0.0.1:$port/users/$i"
  curl -sk -o /dev/null "https://127.0.0.1:$port/status/404"
  node examples/https-client.js "https://127.0.0.1:$port/orders/$i" "https://127.0.0.1:$port/status/503" >/dev/null
  sleep 2
  if [ "$i" -le 3 ]; then echo "services in Jaeger: $(services)"; fi
done
