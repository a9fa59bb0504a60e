#!/usr/bin/env bash
# Write each service's config into $CLUSTER_DIR/config (run by up.sh after the deployment).
# Each party has its own data directory, keystore and list of nodes (fail-over in order).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
load_net
ASSETS="$CLUSTER_DIR/assets"
CFG="$CLUSTER_DIR/config"
mkdir -p "$CFG"
rpc_of() { echo "\"http://$(addr_of "$1"):26657\""; }
nodes() { local out="" v; for v in "$@"; do out="${out:+$out, }$(rpc_of "$v")"; done; echo "[$out]"; }
RELAYER_URL="http://$(addr_of relayer):8700"
KUBO_API="http://$(addr_of kubo):5001"
# Training steps of each participant (p3 trains longer in the fault test's first round, so it
# can be stopped mid-training; FAIRSHARE_CLUSTER_P3_STEPS overrides).
P_STEPS="${FAIRSHARE_CLUSTER_STEPS:-30}"
P3_STEPS="${FAIRSHARE_CLUSTER_P3_STEPS:-$P_STEPS}"

cat > "$CFG/relayer.toml" <<TOML
# The relayer: HTTP API for bundles and signed commitments, durable queue, batches to the chain.
listen = "$(addr_of relayer):8700"
data_dir = "$CLUSTER_DIR/data/relayer"
nodes = $(nodes val2 val1 val3)
chain_id = "$CLUSTER_CHAIN_ID"
deployment = "$CLUSTER_DIR/deployment.json"
batch_size = 2
batch_interval_ms = 1000
kubo = "$KUBO_API"

[key]
keystore = "$CLUSTER_DIR/keys/relayer.key"
passphrase_env = "FAIRSHARE_KEY_PASSPHRASE"
TOML

participant() {
  local i=$1 first=$2 second=$3 steps=$4 store
  if [ "$i" = 3 ]; then
    store="kind = \"kubo\"
api = \"$KUBO_API\""
  else
    store="kind = \"http\"
url = \"$RELAYER_URL\""
  fi
  cat > "$CFG/p$i.toml" <<TOML
# Participant $i: joins each round, trains on its own text, publishes, hands over its commitment.
data_dir = "$CLUSTER_DIR/data/p$i"
relayer = "$RELAYER_URL"
stake = 1000
step_interval_ms = 500
self_post_margin_blocks = 5
nodes = $(nodes "$first" "$second")
chain_id = "$CLUSTER_CHAIN_ID"
deployment = "$CLUSTER_DIR/deployment.json"

[store]
$store

[key]
keystore = "$CLUSTER_DIR/keys/participant$i.key"
passphrase_env = "FAIRSHARE_KEY_PASSPHRASE"

[train]
model = "$ASSETS/model"
data = "$ASSETS/data/p$i.txt"
steps = $steps
seq_len = 32
batch_size = 4
learning_rate = 0.003
TOML
}
participant 1 val1 val2 "$P_STEPS"
participant 2 val3 val4 "$P_STEPS"
participant 3 val4 val1 "$P3_STEPS"

evaluator() {
  local i=$1 first=$2 second=$3
  cat > "$CFG/e$i.toml" <<TOML
# Evaluator $i: bonds, fetches and checks every committed bundle, values the round, commits and
# reveals its report.
data_dir = "$CLUSTER_DIR/data/e$i"
relayer = "$RELAYER_URL"
bond = 1000
step_interval_ms = 500
fetch_margin_blocks = 10
nodes = $(nodes "$first" "$second")
chain_id = "$CLUSTER_CHAIN_ID"
deployment = "$CLUSTER_DIR/deployment.json"

[store]
kind = "http"
url = "$RELAYER_URL"

[key]
keystore = "$CLUSTER_DIR/keys/evaluator$i.key"
passphrase_env = "FAIRSHARE_KEY_PASSPHRASE"

[valuation]
model = "$ASSETS/model"
validation = "$ASSETS/validation.txt"
seq_len = 32
batch_windows = 8
TOML
}
evaluator 1 val1 val3
evaluator 2 val2 val3
evaluator 3 val3 val4
echo "cluster configs: $CFG/{relayer,p1,p2,p3,e1,e2,e3}.toml"
