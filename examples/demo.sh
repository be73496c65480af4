#!/usr/bin/env bash
# A local demo without Docker: an HTTPS server and clients (node, curl, python3) making
# requests once a second. Run the agent in another terminal first:
#   sudo npm start                 # spans on stdout
# then:
#   bash examples/demo.sh          # Ctrl-C to stop
set -euo pipefail
cd "$(dirname "$0")"
port=${PORT:-8443}
OTEL_SERVICE_NAME=demo-users-api node https-server.js --port "$port" &
server=$!
trap 'kill $server 2>/dev/null' EXIT
sleep 1
i=0
while true; do
  i=$((i + 1))
  node https-client.js "https://127.0.0.1:$port/users/$i" "https://127.0.0.1:$port/orders/$i?token=not-exported" >/dev/null
  curl -sk -o /dev/null "https://127.0.0.1:$port/status/503"
  curl -sk -o /dev/null -X POST --data "hello $i" "https://127.0.0.1:$port/orders"
  python3 -c "import urllib.request, ssl; urllib.request.urlopen('https://127.0.0.1:$port/health', context=ssl._create_unverified_context()).read()"
  sleep 1
done
