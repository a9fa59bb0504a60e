#!/usr/bin/env bash
# Stop the localnet node started by start.sh (by its recorded pid only). Keeps the chain data.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

if [ ! -f "$NODE_PID" ]; then
  echo "localnet is not running (no $NODE_PID)"
  exit 0
fi
pid="$(cat "$NODE_PID")"
if ! kill -0 "$pid" 2>/dev/null; then
  echo "localnet is not running (stale pid $pid)"
  rm -f "$NODE_PID"
  exit 0
fi
kill -TERM "$pid"
for _ in $(seq 1 40); do
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.25
done
if kill -0 "$pid" 2>/dev/null; then
  echo "localnet: pid $pid ignored SIGTERM for 10s; sending SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
fi
rm -f "$NODE_PID"
echo "localnet stopped (pid $pid); data kept in $NODE_HOME"
