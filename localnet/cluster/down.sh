#!/usr/bin/env bash
# Stop every process of the cluster (by pid file) and remove its network. Keeps the data.
# Usage: down.sh [--quiet]
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
bash "$CLUSTER_SCRIPTS/svc.sh" stop-all
bash "$CLUSTER_SCRIPTS/net.sh" down >/dev/null
[ "${1:-}" = "--quiet" ] || echo "cluster stopped: no process, namespace or link of it left; data in $CLUSTER_DIR"
