#!/usr/bin/env bash
# Initialise the one-validator localnet in $FAIRSHARE_CACHE/localnet: chain id, test keyring with
# the accounts of localnet/accounts.toml funded in genesis, fast blocks, every port on 127.0.0.1.
# Usage: init.sh [--force]   (--force wipes an existing chain first)
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
need_wasmd

stamp="$NODE_HOME/.fairshare-init"
want="$WASMD_VERSION $CHAIN_ID $(sha256sum "$ACCOUNTS_FILE" | cut -c1-16) $(sha256sum "${BASH_SOURCE[0]}" | cut -c1-16)"
if [ "${1:-}" != "--force" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  echo "localnet already initialised in $NODE_HOME (make localnet-reset to start over)"
  exit 0
fi
if [ -f "$NODE_PID" ] && kill -0 "$(cat "$NODE_PID")" 2>/dev/null; then
  echo "localnet: a node is running (pid $(cat "$NODE_PID")); stop it first (make localnet-stop)" >&2
  exit 1
fi

rm -rf "$NODE_HOME"
rm -f "$NODE_LOG"
mkdir -p "$LOCALNET_HOME"
kr=(--keyring-backend test --home "$NODE_HOME")
setup_log="$LOCALNET_HOME/init.log"
: > "$setup_log"

# quiet CMD...: run wasmd CMD with its output in init.log; show it if the command fails.
quiet() {
  if ! wasmd "$@" >>"$setup_log" 2>&1; then
    echo "localnet: \`wasmd $1 $2 ...\` failed; last lines of $setup_log:" >&2
    tail -n 20 "$setup_log" >&2
    exit 1
  fi
}

quiet init fairshare-validator --chain-id "$CHAIN_ID" --default-denom "$DENOM" --home "$NODE_HOME"

# accounts.toml -> "name|balance|address|mnemonic" per account (| because read collapses tabs).
accounts() {
  awk -F' = ' '
    function val(s) { sub(/^"/, "", s); sub(/"[[:space:]]*$/, "", s); return s }
    /^\[\[account\]\]/ { if (name != "") print name "|" bal "|" addr "|" mn; name = bal = addr = mn = ""; next }
    $1 == "name" { name = val($2) } $1 == "balance" { bal = val($2) }
    $1 == "address" { addr = val($2) } $1 == "mnemonic" { mn = val($2) }
    END { if (name != "") print name "|" bal "|" addr "|" mn }' "$ACCOUNTS_FILE"
}
bond="$(awk -F' = ' '$1 == "validator_bond" { gsub(/"/, "", $2); print $2 }' "$ACCOUNTS_FILE")"

n=0
while IFS='|' read -r name balance address mnemonic; do
  echo "$mnemonic" | quiet keys add "$name" --recover "${kr[@]}"
  got="$(wasmd keys show "$name" -a "${kr[@]}")"
  if [ -n "$address" ] && [ "$address" != "$got" ]; then
    echo "localnet: $name derives $got but accounts.toml says $address" >&2
    exit 1
  fi
  quiet genesis add-genesis-account "$got" "${balance}${DENOM}" --home "$NODE_HOME"
  n=$((n + 1))
done < <(accounts)

quiet genesis gentx validator "${bond}${DENOM}" --chain-id "$CHAIN_ID" --moniker fairshare-validator "${kr[@]}"
quiet genesis collect-gentxs --home "$NODE_HOME"
quiet genesis validate-genesis --home "$NODE_HOME"

# set_toml FILE SECTION KEY VALUE: replace KEY's value in [SECTION] ("" = top level). The key
# must already exist: a silent no-op would hide a renamed option.
set_toml() {
  local file=$1 section=$2 key=$3 value=$4 tmp
  tmp="$(mktemp)"
  awk -v sec="$section" -v key="$key" -v val="$value" '
    /^\[.*\]/ { cur = substr($0, 2, length($0) - 2) }
    cur == sec && $1 == key && $2 == "=" && !done { print key " = " val; done = 1; next }
    { print }
    END { if (!done) exit 3 }' "$file" > "$tmp" || {
      rm -f "$tmp"; echo "localnet: no '$key' in [$section] of $file" >&2; exit 1; }
  mv "$tmp" "$file"
}
cfg="$NODE_HOME/config/config.toml"
app="$NODE_HOME/config/app.toml"
set_toml "$cfg" "" proxy_app "\"tcp://127.0.0.1:26658\""
set_toml "$cfg" rpc laddr "\"tcp://127.0.0.1:$RPC_PORT\""
set_toml "$cfg" rpc pprof_laddr "\"127.0.0.1:$PPROF_PORT\""
set_toml "$cfg" rpc cors_allowed_origins '["*"]'
set_toml "$cfg" p2p laddr "\"tcp://127.0.0.1:$P2P_PORT\""
set_toml "$cfg" p2p external_address '""'
set_toml "$cfg" p2p addr_book_strict false
set_toml "$cfg" p2p allow_duplicate_ip true
set_toml "$cfg" consensus timeout_propose '"500ms"'
set_toml "$cfg" consensus timeout_commit '"500ms"'
set_toml "$cfg" instrumentation prometheus false
set_toml "$app" "" minimum-gas-prices "\"0$DENOM\""
set_toml "$app" api enable true
set_toml "$app" api address "\"tcp://127.0.0.1:$API_PORT\""
set_toml "$app" grpc address "\"127.0.0.1:$GRPC_PORT\""

echo "$want" > "$stamp"
echo "localnet initialised: chain $CHAIN_ID, $n accounts funded, home $NODE_HOME"
