# Shared settings for the localnet scripts. Sourced, not executed.
# Everything the node writes lives under $FAIRSHARE_CACHE, outside the repository.

set -euo pipefail

LOCALNET_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FAIRSHARE_CACHE="${FAIRSHARE_CACHE:-$HOME/.cache/fairshare}"

# The wasmd version is whatever localnet/go.mod requires: one source of truth.
WASMD_VERSION="$(awk '$1 == "require" && $2 == "github.com/CosmWasm/wasmd" {print $3}' "$LOCALNET_DIR/go.mod")"
if [ -z "$WASMD_VERSION" ]; then
  echo "localnet: cannot read the wasmd version from $LOCALNET_DIR/go.mod" >&2
  exit 1
fi
WASMD_PREFIX="$FAIRSHARE_CACHE/wasmd/$WASMD_VERSION"
WASMD_BIN="$WASMD_PREFIX/bin/wasmd"

CHAIN_ID="${FAIRSHARE_CHAIN_ID:-fairshare-local-1}"
LOCALNET_HOME="${FAIRSHARE_LOCALNET_HOME:-$FAIRSHARE_CACHE/localnet}"
NODE_HOME="$LOCALNET_HOME/node"
NODE_LOG="$LOCALNET_HOME/wasmd.log"
NODE_PID="$LOCALNET_HOME/wasmd.pid"
ACCOUNTS_FILE="$LOCALNET_DIR/accounts.toml"
DENOM="stake"

# Every port on 127.0.0.1. Override with FAIRSHARE_RPC_PORT etc. if one is taken.
RPC_PORT="${FAIRSHARE_RPC_PORT:-26657}"
P2P_PORT="${FAIRSHARE_P2P_PORT:-26656}"
PPROF_PORT="${FAIRSHARE_PPROF_PORT:-6060}"
GRPC_PORT="${FAIRSHARE_GRPC_PORT:-9090}"
API_PORT="${FAIRSHARE_API_PORT:-1317}"
RPC_URL="http://127.0.0.1:$RPC_PORT"

need_go() {
  if ! command -v go >/dev/null 2>&1; then
    cat >&2 <<MSG
localnet: Go is not installed (no \`go\` on PATH), so wasmd $WASMD_VERSION cannot be built.
  Install Go >= 1.25 (the official release tarball, or your distribution's golang package) and a
  C compiler (cgo links libwasmvm), then run \`make localnet\` again. \`make e2e\` and therefore
  \`make test\` need it; the embedded chain (\`make demo\`) does not.
MSG
    exit 2
  fi
  if ! command -v cc >/dev/null 2>&1 && ! command -v gcc >/dev/null 2>&1; then
    echo "localnet: no C compiler (cc/gcc) on PATH; wasmd needs cgo to link libwasmvm" >&2
    exit 2
  fi
}

need_wasmd() {
  if [ ! -x "$WASMD_BIN" ]; then
    echo "localnet: $WASMD_BIN is missing; run \`make wasmd\` (or \`make localnet\`)" >&2
    exit 2
  fi
}

wasmd() { "$WASMD_BIN" "$@"; }
