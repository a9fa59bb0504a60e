# Shared settings for the kubo (IPFS) scripts. Sourced, not run.
set -euo pipefail
KUBO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FAIRSHARE_CACHE="${FAIRSHARE_CACHE:-$HOME/.cache/fairshare}"
KUBO_VERSION="$(sed -n 's/^require github.com\/ipfs\/kubo \(v[0-9.]*\).*/\1/p' "$KUBO_DIR/go.mod")"
KUBO_PREFIX="$FAIRSHARE_CACHE/kubo/$KUBO_VERSION"
KUBO_BIN="$KUBO_PREFIX/bin/ipfs"
# The node's repository, log and pid; override IPFS_PATH for a second node.
export IPFS_PATH="${IPFS_PATH:-$FAIRSHARE_CACHE/kubo/repo}"
KUBO_LOG="$IPFS_PATH/../kubo.log"
KUBO_PID="$IPFS_PATH/../kubo.pid"
KUBO_API_PORT="${FAIRSHARE_KUBO_API_PORT:-5001}"
KUBO_GATEWAY_PORT="${FAIRSHARE_KUBO_GATEWAY_PORT:-8080}"
KUBO_SWARM_PORT="${FAIRSHARE_KUBO_SWARM_PORT:-4001}"
KUBO_API_URL="http://127.0.0.1:$KUBO_API_PORT"
