#!/usr/bin/env bash
# Stop the kubo node started by start-kubo.sh (only that process, by its pid file).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
if [ -f "$KUBO_PID" ] && kill -0 "$(cat "$KUBO_PID")" 2>/dev/null; then
  kill "$(cat "$KUBO_PID")"
  for _ in $(seq 1 50); do kill -0 "$(cat "$KUBO_PID")" 2>/dev/null || break; sleep 0.2; done
  echo "kubo stopped"
else
  echo "kubo not running"
fi
rm -f "$KUBO_PID"
