# Shared settings of the cluster scripts (`make cluster`). Sourced, not run.
# Everything lives under $CLUSTER_DIR (default ~/.cache/fairshare/cluster), outside the repository.
set -euo pipefail

CLUSTER_SCRIPTS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$CLUSTER_SCRIPTS/../.." && pwd)"
# The wasmd and kubo builds, chain id and accounts of the one-node localnet.
source "$REPO_DIR/localnet/scripts/common.sh"
LOCALNET_COMMON_FAIRSHARE_CACHE="$FAIRSHARE_CACHE"
KUBO_VERSION="$(sed -n 's/^require github.com\/ipfs\/kubo \(v[0-9.]*\).*/\1/p' "$REPO_DIR/localnet/kubo/go.mod")"
KUBO_BIN="$FAIRSHARE_CACHE/kubo/$KUBO_VERSION/bin/ipfs"

CLUSTER_DIR="${FAIRSHARE_CLUSTER_DIR:-$FAIRSHARE_CACHE/cluster}"
CLUSTER_CHAIN_ID="${FAIRSHARE_CLUSTER_CHAIN_ID:-fairshare-cluster-1}"
# Block time of the cluster's chain (timeout_commit and timeout_propose).
CLUSTER_BLOCK_MS="${FAIRSHARE_CLUSTER_BLOCK_MS:-300}"
# The `fairshare` binary (built by `make cluster` with cargo).
FAIRSHARE_BIN="${FAIRSHARE_BIN:-${CARGO_TARGET_DIR:-$FAIRSHARE_CACHE/target}/debug/fairshare}"
# Passphrase of every service's keystore in the rehearsal (the keys are the localnet's public
# test keys; a real party picks its own passphrase).
export FAIRSHARE_KEY_PASSPHRASE="${FAIRSHARE_KEY_PASSPHRASE:-cluster rehearsal passphrase}"

# Hosts of the cluster: name and last octet of its address. Each runs in its own network
# namespace fs-<name> (address 10.77.0.<octet>, a veth on the bridge fsbr0 whose own address is
# 10.77.0.1), or, where namespaces cannot be made, on 127.0.0.<octet> in the host's namespace.
HOSTS=(val1:11 val2:12 val3:13 val4:14 kubo:20 relayer:30 p1:41 p2:42 p3:43 e1:51 e2:52 e3:53)
VALIDATORS=(val1 val2 val3 val4)
PARTICIPANTS=(p1 p2 p3)
EVALUATORS=(e1 e2 e3)
SUBNET_PREFIX=10.77.0
BRIDGE=fsbr0
NET_ENV="$CLUSTER_DIR/net.env"
PIDS_DIR="$CLUSTER_DIR/pids"
LOGS_DIR="$CLUSTER_DIR/logs"

octet_of() {
  local h
  for h in "${HOSTS[@]}"; do
    if [ "${h%%:*}" = "$1" ]; then echo "${h##*:}"; return 0; fi
  done
  echo "cluster: no host named $1" >&2
  return 1
}

# NET_MODE (netns | loopback) once net.sh has run.
load_net() {
  if [ -f "$NET_ENV" ]; then source "$NET_ENV"; else NET_MODE=""; fi
}

# addr_of HOST: the host's address in the current mode.
addr_of() {
  local o
  o="$(octet_of "$1")"
  if [ "${NET_MODE:-}" = "loopback" ]; then echo "127.0.0.$o"; else echo "$SUBNET_PREFIX.$o"; fi
}

# in_host HOST CMD...: run CMD inside HOST's namespace (or directly in loopback mode).
in_host() {
  local h=$1; shift
  if [ "${NET_MODE:-}" = "netns" ]; then ip netns exec "fs-$h" "$@"; else "$@"; fi
}
