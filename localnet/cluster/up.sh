#!/usr/bin/env bash
# Bring the whole cluster up: network, four validators, kubo, contracts, keystores, configs, and
# the relayer, three participants and three evaluators, each a process in its own namespace.
# Needs the assets `make cluster` writes first ($CLUSTER_DIR/assets: model, data/, validation.txt).
# Usage: up.sh [--no-services]   (--no-services: chain, kubo, deployment and configs only)
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
need_wasmd
[ -x "$KUBO_BIN" ] || { echo "cluster: kubo is not built ($KUBO_BIN); run \`make kubo\`" >&2; exit 2; }
[ -x "$FAIRSHARE_BIN" ] || { echo "cluster: no fairshare binary at $FAIRSHARE_BIN (cargo build -p fairshare-relayer)" >&2; exit 2; }
ASSETS="$CLUSTER_DIR/assets"
for f in model/config.json data/p1.txt validation.txt; do
  [ -e "$ASSETS/$f" ] || { echo "cluster: $ASSETS/$f is missing; \`make cluster\` writes the assets" >&2; exit 2; }
done
# On any failure, take down what was started.
trap 'status=$?; if [ $status -ne 0 ]; then echo "cluster: start-up failed; tearing down" >&2; bash "$CLUSTER_SCRIPTS/down.sh" >&2 || true; fi' EXIT

# Schedule of every round, in blocks (~0.35 s each at the default 300 ms timeout_commit).
JOIN_BLOCKS="${FAIRSHARE_CLUSTER_JOIN_BLOCKS:-25}"
TRAIN_BLOCKS="${FAIRSHARE_CLUSTER_TRAIN_BLOCKS:-50}"
EVAL_BLOCKS="${FAIRSHARE_CLUSTER_EVAL_BLOCKS:-80}"
REVEAL_BLOCKS="${FAIRSHARE_CLUSTER_REVEAL_BLOCKS:-30}"
DISPUTE_BLOCKS="${FAIRSHARE_CLUSTER_DISPUTE_BLOCKS:-5}"
SETTLE_BLOCKS="${FAIRSHARE_CLUSTER_SETTLE_BLOCKS:-60}"

bash "$CLUSTER_SCRIPTS/down.sh" --quiet
rm -rf "$CLUSTER_DIR/chain" "$CLUSTER_DIR/data" "$CLUSTER_DIR/config" "$CLUSTER_DIR/keys" \
       "$CLUSTER_DIR/kubo" "$LOGS_DIR" "$PIDS_DIR"
mkdir -p "$CLUSTER_DIR"/{data,config,keys,kubo} "$LOGS_DIR" "$PIDS_DIR"
bash "$CLUSTER_SCRIPTS/net.sh" up
load_net
bash "$CLUSTER_SCRIPTS/chain.sh" init

rpc_of() { echo "http://$(addr_of "$1"):26657"; }
for v in "${VALIDATORS[@]}"; do
  bash "$CLUSTER_SCRIPTS/svc.sh" start "$v" "$v" "$WASMD_BIN" start --home "$CLUSTER_DIR/chain/$v" --log_no_color
done
# Wait for blocks and for the transaction service (registered after CometBFT starts).
start=$(date +%s)
while :; do
  h="$(curl -sf --max-time 2 "$(rpc_of val1)/status" 2>/dev/null | jq -r '.result.sync_info.latest_block_height' 2>/dev/null || true)"
  sim="$(curl -sf --max-time 2 "$(rpc_of val1)/abci_query?path=%22/cosmos.tx.v1beta1.Service/Simulate%22" 2>/dev/null || true)"
  if [ -n "$h" ] && [ "$h" != null ] && [ "$h" -ge 2 ] && [ -n "$sim" ] && [[ "$sim" != *"unknown query path"* ]]; then break; fi
  if [ $(( $(date +%s) - start )) -ge 90 ]; then
    echo "cluster: no blocks after 90 s; last lines of val1's log:" >&2
    tail -n 20 "$LOGS_DIR/val1.log" >&2
    exit 1
  fi
  sleep 0.5
done
echo "cluster chain up: $CLUSTER_CHAIN_ID at height $h after $(( $(date +%s) - start )) s"

# kubo: its own repository, API and swarm on its host's address, no bootstrap peers.
export IPFS_PATH="$CLUSTER_DIR/kubo/repo"
KUBO_API="http://$(addr_of kubo):5001"
"$KUBO_BIN" init --profile=test >"$LOGS_DIR/kubo-init.log" 2>&1
"$KUBO_BIN" config Addresses.API "/ip4/$(addr_of kubo)/tcp/5001"
"$KUBO_BIN" config Addresses.Gateway "/ip4/$(addr_of kubo)/tcp/8080"
"$KUBO_BIN" config --json Addresses.Swarm "[\"/ip4/$(addr_of kubo)/tcp/4001\"]"
bash "$CLUSTER_SCRIPTS/svc.sh" start kubo kubo env IPFS_PATH="$IPFS_PATH" "$KUBO_BIN" daemon
for _ in $(seq 1 150); do
  curl -sf --max-time 2 -X POST "$KUBO_API/api/v0/id" >/dev/null 2>&1 && break
  sleep 0.2
done
curl -sf --max-time 2 -X POST "$KUBO_API/api/v0/id" >/dev/null || { echo "cluster: kubo does not answer on $KUBO_API" >&2; tail -n 20 "$LOGS_DIR/kubo.log" >&2; exit 1; }
echo "cluster kubo up: $KUBO_API"

# Keystores: each service's key imported from the localnet's (public) test mnemonic.
mnemonic_of() {
  awk -F' = ' -v n="$1" '$1 == "name" { gsub(/"/, "", $2); on = ($2 == n) } on && $1 == "mnemonic" { gsub(/"/, "", $2); print $2; exit }' "$ACCOUNTS_FILE"
}
for account in relayer participant1 participant2 participant3 evaluator1 evaluator2 evaluator3; do
  FAIRSHARE_MNEMONIC="$(mnemonic_of "$account")" "$FAIRSHARE_BIN" keys import \
    --keystore "$CLUSTER_DIR/keys/$account.key" >/dev/null
done
echo "cluster keystores: $CLUSTER_DIR/keys/*.key (passphrase from FAIRSHARE_KEY_PASSPHRASE)"

# The contracts, deployed by the localnet's deployer through val1.
cat > "$CLUSTER_DIR/config/operator.toml" <<TOML
rpc = "$(rpc_of val1)"
chain_id = "$CLUSTER_CHAIN_ID"
accounts = "$ACCOUNTS_FILE"
artifacts = "$REPO_DIR/artifacts"
deployment = "$CLUSTER_DIR/deployment.json"
spool = "$CLUSTER_DIR/data/operator/spool"
sealed = "$CLUSTER_DIR/data/operator/sealed"
TOML
"$FAIRSHARE_BIN" --config "$CLUSTER_DIR/config/operator.toml" deploy --as deployer \
  --join-blocks "$JOIN_BLOCKS" --train-blocks "$TRAIN_BLOCKS" --eval-blocks "$EVAL_BLOCKS" \
  --reveal-blocks "$REVEAL_BLOCKS" --dispute-blocks "$DISPUTE_BLOCKS" --settle-blocks "$SETTLE_BLOCKS" \
  > "$LOGS_DIR/deploy.log" 2>&1 || { echo "cluster: deploy failed:" >&2; tail -n 20 "$LOGS_DIR/deploy.log" >&2; exit 1; }
echo "cluster contracts deployed: $CLUSTER_DIR/deployment.json"

bash "$CLUSTER_SCRIPTS/configs.sh"
if [ "${1:-}" != "--no-services" ]; then
  bash "$CLUSTER_SCRIPTS/services.sh" start-all
fi
trap - EXIT
echo "cluster up ($NET_MODE): logs in $LOGS_DIR, configs in $CLUSTER_DIR/config; \`make cluster-stop\` stops it"
