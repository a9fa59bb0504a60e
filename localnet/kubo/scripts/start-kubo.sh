#!/usr/bin/env bash
# Start a kubo node for the bundle store on 127.0.0.1 (API :5001 unless FAIRSHARE_KUBO_API_PORT),
# initialising its repository (profile `test`: no bootstrap peers, local addresses) on first use.
# Does nothing if our node already runs.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
[ -x "$KUBO_BIN" ] || bash "$(dirname "${BASH_SOURCE[0]}")/build-kubo.sh"
if [ -f "$KUBO_PID" ] && kill -0 "$(cat "$KUBO_PID")" 2>/dev/null; then
  echo "kubo already running (pid $(cat "$KUBO_PID")), API $KUBO_API_URL"
  exit 0
fi
if curl -sf --max-time 2 -X POST "$KUBO_API_URL/api/v0/id" >/dev/null 2>&1; then
  echo "kubo: something else answers on $KUBO_API_URL; stop it or set FAIRSHARE_KUBO_API_PORT" >&2
  exit 1
fi
if [ ! -f "$IPFS_PATH/config" ]; then
  mkdir -p "$IPFS_PATH"
  "$KUBO_BIN" init --profile=test >/dev/null
fi
"$KUBO_BIN" config Addresses.API "/ip4/127.0.0.1/tcp/$KUBO_API_PORT"
"$KUBO_BIN" config Addresses.Gateway "/ip4/127.0.0.1/tcp/$KUBO_GATEWAY_PORT"
"$KUBO_BIN" config --json Addresses.Swarm "[\"/ip4/127.0.0.1/tcp/$KUBO_SWARM_PORT\"]"
setsid "$KUBO_BIN" daemon >>"$KUBO_LOG" 2>&1 < /dev/null &
echo $! > "$KUBO_PID"
for _ in $(seq 1 150); do
  if curl -sf --max-time 2 -X POST "$KUBO_API_URL/api/v0/id" >/dev/null 2>&1; then
    echo "kubo running: pid $(cat "$KUBO_PID"), API $KUBO_API_URL, repo $IPFS_PATH, log $KUBO_LOG"
    exit 0
  fi
  sleep 0.2
done
echo "kubo did not answer on $KUBO_API_URL within 30 s; see $KUBO_LOG" >&2
exit 1
