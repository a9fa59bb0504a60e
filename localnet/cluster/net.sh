#!/usr/bin/env bash
# The cluster's network: one namespace per host on a private bridge, or distinct loopback
# addresses where namespaces cannot be made (no CAP_SYS_ADMIN/CAP_NET_ADMIN).
# Usage: net.sh up | down | link-down HOST | link-up HOST
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

up() {
  mkdir -p "$CLUSTER_DIR"
  if [ "${FAIRSHARE_CLUSTER_NET:-}" != "loopback" ] && try_netns; then
    echo "NET_MODE=netns" > "$NET_ENV"
    echo "cluster network: ${#HOSTS[@]} namespaces fs-* on bridge $BRIDGE ($SUBNET_PREFIX.0/24)"
  else
    down_quiet
    echo "NET_MODE=loopback" > "$NET_ENV"
    echo "cluster network: network namespaces cannot be made here; FALLING BACK to distinct" \
         "loopback addresses 127.0.0.x in the host's namespace (no per-host isolation, and the" \
         "'evaluator cut off' fault cannot be injected)"
  fi
}

try_netns() {
  command -v ip >/dev/null 2>&1 || return 1
  down_quiet
  ip link add "$BRIDGE" type bridge 2>/dev/null || return 1
  ip addr add "$SUBNET_PREFIX.1/24" dev "$BRIDGE" || return 1
  ip link set "$BRIDGE" up || return 1
  local h name o
  for h in "${HOSTS[@]}"; do
    name="${h%%:*}"; o="${h##*:}"
    ip netns add "fs-$name" 2>/dev/null || { down_quiet; return 1; }
    ip link add "fsv-$name" type veth peer name "fsp-$name" || { down_quiet; return 1; }
    ip link set "fsp-$name" netns "fs-$name"
    ip link set "fsv-$name" master "$BRIDGE"
    ip link set "fsv-$name" up
    ip netns exec "fs-$name" ip link set lo up
    ip netns exec "fs-$name" ip link set "fsp-$name" name eth0
    ip netns exec "fs-$name" ip addr add "$SUBNET_PREFIX.$o/24" dev eth0
    ip netns exec "fs-$name" ip link set eth0 up
  done
  # Wait until the bridge forwards (its ports leave the listening state).
  local i
  for i in $(seq 1 50); do
    # A refused connection (nothing listens on port 1) proves the path works; a timeout does not.
    local out
    out="$(ip netns exec fs-val1 timeout 1 bash -c "exec 3<>/dev/tcp/$SUBNET_PREFIX.$(octet_of relayer)/1" 2>&1 || true)"
    case "$out" in *refused*) return 0 ;; esac
    sleep 0.1
  done
  echo "cluster: namespaces made, but val1 cannot reach the relayer's address" >&2
  down_quiet
  return 1
}

down_quiet() {
  local h name
  for h in "${HOSTS[@]}"; do
    name="${h%%:*}"
    ip netns del "fs-$name" 2>/dev/null || true
    ip link del "fsv-$name" 2>/dev/null || true
  done
  ip link del "$BRIDGE" 2>/dev/null || true
}

case "${1:-}" in
  up) up ;;
  down)
    down_quiet
    rm -f "$NET_ENV"
    echo "cluster network removed"
    ;;
  link-down|link-up)
    load_net
    [ "$NET_MODE" = "netns" ] || { echo "cluster: $1 needs network namespaces (mode: ${NET_MODE:-none})" >&2; exit 3; }
    state="${1#link-}"
    ip link set "fsv-${2:?host}" "$state"
    echo "cluster: ${2}'s link is $state"
    ;;
  *) echo "usage: net.sh up | down | link-down HOST | link-up HOST" >&2; exit 2 ;;
esac
