#!/usr/bin/env bash
# Start the localnet node in the background (log in $FAIRSHARE_CACHE/localnet/wasmd.log) and wait
# until it produces blocks. Does nothing if our node is already running.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
need_wasmd
timeout_s="${FAIRSHARE_LOCALNET_WAIT_S:-90}"

# Latest height, or nothing while the node does not answer.
height() {
  { curl -sf --max-time 2 "$RPC_URL/status" 2>/dev/null || true; } \
    | tr -d '\n ' | sed -n 's/.*"latest_block_height":"\([0-9]*\)".*/\1/p'
}

if [ -f "$NODE_PID" ] && kill -0 "$(cat "$NODE_PID")" 2>/dev/null; then
  echo "localnet already running (pid $(cat "$NODE_PID")), RPC $RPC_URL, height $(height)"
  exit 0
fi
if curl -sf --max-time 2 "$RPC_URL/status" >/dev/null 2>&1; then
  echo "localnet: something that is not our node already answers on $RPC_URL; stop it or set FAIRSHARE_RPC_PORT" >&2
  exit 1
fi
if [ ! -f "$NODE_HOME/.fairshare-init" ]; then
  echo "localnet: not initialised; run localnet/scripts/init.sh (make localnet does)" >&2
  exit 1
fi

# Whether the node serves /cosmos.tx.v1beta1.Service (an empty simulation is refused for being
# empty, not for an unknown path, once it does).
tx_service_up() {
  local out
  out="$(curl -sf --max-time 2 "$RPC_URL/abci_query?path=%22/cosmos.tx.v1beta1.Service/Simulate%22" 2>/dev/null)" || return 1
  case "$out" in *"unknown query path"*) return 1 ;; *) return 0 ;; esac
}

# setsid: the node must outlive make's process group.
echo "=== wasmd start $(date -u +%FT%TZ)" >> "$NODE_LOG"
setsid "$WASMD_BIN" start --home "$NODE_HOME" --log_no_color >>"$NODE_LOG" 2>&1 < /dev/null &
echo $! > "$NODE_PID"
echo "localnet starting: pid $(cat "$NODE_PID"), log $NODE_LOG"

start=$(date +%s)
while :; do
  if ! kill -0 "$(cat "$NODE_PID")" 2>/dev/null; then
    echo "localnet: wasmd exited during start-up; last lines of $NODE_LOG:" >&2
    tail -n 30 "$NODE_LOG" >&2
    rm -f "$NODE_PID"
    exit 1
  fi
  h="$(height)"
  # Blocks come before the transaction service: the SDK registers it once CometBFT runs, and
  # until then a simulation is refused with "unknown query path".
  if [ -n "$h" ] && [ "$h" -ge 2 ] && tx_service_up; then break; fi
  if [ $(( $(date +%s) - start )) -ge "$timeout_s" ]; then
    if [ -n "$h" ] && [ "$h" -ge 2 ]; then
      echo "localnet: blocks are made (height $h) but the transaction service is not served after ${timeout_s}s; last lines of $NODE_LOG:" >&2
    else
      echo "localnet: no blocks after ${timeout_s}s; last lines of $NODE_LOG:" >&2
    fi
    tail -n 30 "$NODE_LOG" >&2
    exit 1
  fi
  sleep 0.5
done
echo "localnet up: chain $CHAIN_ID at height $h after $(( $(date +%s) - start ))s"
echo "  RPC   $RPC_URL    gRPC 127.0.0.1:$GRPC_PORT    API http://127.0.0.1:$API_PORT"
echo "  CLI   $WASMD_BIN --home $NODE_HOME --keyring-backend test --node tcp://127.0.0.1:$RPC_PORT"
