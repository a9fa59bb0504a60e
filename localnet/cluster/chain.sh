#!/usr/bin/env bash
# Initialise the cluster's four-validator wasmd chain: one home per validator under
# $CLUSTER_DIR/chain/valN, a genesis with the localnet's funded accounts and four gentxs of equal
# bond, each node listening on its own host's address (net.sh up first), peers wired, fast blocks.
# Usage: chain.sh init
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
need_wasmd
load_net
[ -n "${NET_MODE:-}" ] || { echo "cluster: run net.sh up first" >&2; exit 1; }

CHAIN_DIR="$CLUSTER_DIR/chain"
setup_log="$CLUSTER_DIR/chain-init.log"

quiet() {
  if ! wasmd "$@" >>"$setup_log" 2>&1; then
    echo "cluster: \`wasmd $1 $2 ...\` failed; last lines of $setup_log:" >&2
    tail -n 20 "$setup_log" >&2
    exit 1
  fi
}

# set_toml FILE SECTION KEY VALUE: the key must exist in [SECTION] ("" = top level).
set_toml() {
  local file=$1 section=$2 key=$3 value=$4 tmp
  tmp="$(mktemp)"
  awk -v sec="$section" -v key="$key" -v val="$value" '
    /^\[.*\]/ { cur = substr($0, 2, length($0) - 2) }
    cur == sec && $1 == key && $2 == "=" && !done { print key " = " val; done = 1; next }
    { print }
    END { if (!done) exit 3 }' "$file" > "$tmp" || {
      rm -f "$tmp"; echo "cluster: no '$key' in [$section] of $file" >&2; exit 1; }
  mv "$tmp" "$file"
}

rm -rf "$CHAIN_DIR"
mkdir -p "$CHAIN_DIR"
: > "$setup_log"
bond="$(awk -F' = ' '$1 == "validator_bond" { gsub(/"/, "", $2); print $2 }' "$ACCOUNTS_FILE")"
home_of() { echo "$CHAIN_DIR/$1"; }
kr() { echo --keyring-backend test --home "$(home_of "$1")"; }

for v in "${VALIDATORS[@]}"; do
  quiet init "$v" --chain-id "$CLUSTER_CHAIN_ID" --default-denom "$DENOM" --home "$(home_of "$v")"
done
# val1's operator key is the localnet's `validator` account; the others get fresh keys.
val1_mnemonic="$(awk -F' = ' '/^name = "validator"/ { on = 1 } on && $1 == "mnemonic" { gsub(/"/, "", $2); print $2; exit }' "$ACCOUNTS_FILE")"
echo "$val1_mnemonic" | quiet keys add validator --recover $(kr val1)
for v in val2 val3 val4; do quiet keys add validator $(kr "$v"); done

# Genesis accounts: every account of accounts.toml, and the three extra validators.
g1="$(home_of val1)"
while IFS='|' read -r name balance address; do
  quiet genesis add-genesis-account "$address" "${balance}${DENOM}" --home "$g1"
done < <(awk -F' = ' '
    function val(s) { sub(/^"/, "", s); sub(/"[[:space:]]*$/, "", s); return s }
    /^\[\[account\]\]/ { if (name != "") print name "|" bal "|" addr; name = bal = addr = ""; next }
    $1 == "name" { name = val($2) } $1 == "balance" { bal = val($2) } $1 == "address" { addr = val($2) }
    END { if (name != "") print name "|" bal "|" addr }' "$ACCOUNTS_FILE")
for v in val2 val3 val4; do
  addr="$(wasmd keys show validator -a $(kr "$v"))"
  quiet genesis add-genesis-account "$addr" "1000000000000000${DENOM}" --home "$g1"
done
for v in val2 val3 val4; do cp "$g1/config/genesis.json" "$(home_of "$v")/config/genesis.json"; done

# One gentx per validator, equal bonds (25% of the power each), collected in val1's home.
mkdir -p "$g1/config/gentx"
for v in "${VALIDATORS[@]}"; do
  quiet genesis gentx validator "${bond}${DENOM}" --chain-id "$CLUSTER_CHAIN_ID" --moniker "$v" \
    --ip "$(addr_of "$v")" $(kr "$v") --output-document "$CHAIN_DIR/gentx-$v.json"
  cp "$CHAIN_DIR/gentx-$v.json" "$g1/config/gentx/"
done
quiet genesis collect-gentxs --home "$g1"
quiet genesis validate-genesis --home "$g1"
for v in val2 val3 val4; do cp "$g1/config/genesis.json" "$(home_of "$v")/config/genesis.json"; done

# Each node on its own address; every other validator is a persistent peer.
declare -A node_id
for v in "${VALIDATORS[@]}"; do node_id[$v]="$(wasmd comet show-node-id --home "$(home_of "$v")")"; done
for v in "${VALIDATORS[@]}"; do
  h="$(home_of "$v")"; ip="$(addr_of "$v")"
  peers=""
  for w in "${VALIDATORS[@]}"; do
    [ "$w" = "$v" ] && continue
    peers="${peers:+$peers,}${node_id[$w]}@$(addr_of "$w"):26656"
  done
  cfg="$h/config/config.toml"; app="$h/config/app.toml"
  set_toml "$cfg" "" proxy_app "\"tcp://$ip:26658\""
  set_toml "$cfg" rpc laddr "\"tcp://$ip:26657\""
  set_toml "$cfg" rpc pprof_laddr '""'
  set_toml "$cfg" p2p laddr "\"tcp://$ip:26656\""
  set_toml "$cfg" p2p external_address "\"$ip:26656\""
  set_toml "$cfg" p2p persistent_peers "\"$peers\""
  set_toml "$cfg" p2p addr_book_strict false
  set_toml "$cfg" p2p allow_duplicate_ip true
  set_toml "$cfg" p2p pex false
  set_toml "$cfg" consensus timeout_propose "\"${CLUSTER_BLOCK_MS}ms\""
  set_toml "$cfg" consensus timeout_commit "\"${CLUSTER_BLOCK_MS}ms\""
  set_toml "$cfg" instrumentation prometheus false
  set_toml "$app" "" minimum-gas-prices "\"0$DENOM\""
  set_toml "$app" api enable false
  set_toml "$app" api address "\"tcp://$ip:1317\""
  set_toml "$app" grpc enable true   # the SDK registers the tx service (simulation) with it
  set_toml "$app" grpc address "\"$ip:9090\""
done
echo "cluster chain initialised: $CLUSTER_CHAIN_ID, ${#VALIDATORS[@]} validators of equal bond, homes in $CHAIN_DIR"
