#!/usr/bin/env bash
# Start or stop the cluster's services, each `fairshare` process in its own host's namespace
# with its own config (written by configs.sh) and JSON logs in $CLUSTER_DIR/logs/NAME.log.
# Usage: services.sh start NAME | stop NAME | kill NAME | start-all
#   NAME: relayer, p1..p3, e1..e3
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
load_net
SVC="$CLUSTER_SCRIPTS/svc.sh"

has_evaluator_run() { "$FAIRSHARE_BIN" evaluator run --help >/dev/null 2>&1; }

start() {
  local name=$1 cfg="$CLUSTER_DIR/config/$1.toml"
  [ -f "$cfg" ] || { echo "cluster: no config $cfg (run up.sh)" >&2; exit 1; }
  case "$name" in
    relayer) bash "$SVC" start relayer relayer "$FAIRSHARE_BIN" --config "$cfg" relayer serve --json-logs ;;
    p[0-9]) bash "$SVC" start "$name" "$name" "$FAIRSHARE_BIN" --config "$cfg" participant run --json-logs ;;
    e[0-9])
      if ! has_evaluator_run; then
        echo "cluster: this fairshare has no \`evaluator run\`; $name not started" >&2
        return 3
      fi
      bash "$SVC" start "$name" "$name" "$FAIRSHARE_BIN" --config "$cfg" evaluator run --json-logs ;;
    *) echo "cluster: unknown service $name" >&2; exit 2 ;;
  esac
}

wait_relayer() {
  local url="http://$(addr_of relayer):8700/v1/health" i
  for i in $(seq 1 120); do
    curl -sf --max-time 1 "$url" >/dev/null 2>&1 && return 0
    bash "$SVC" running relayer || { echo "cluster: the relayer exited; last lines of its log:" >&2; tail -n 20 "$LOGS_DIR/relayer.log" >&2; return 1; }
    sleep 0.25
  done
  echo "cluster: the relayer does not answer on $url after 30 s" >&2
  return 1
}

case "${1:-}" in
  start) start "${2:?name}"; [ "$2" != relayer ] || wait_relayer ;;
  stop) bash "$SVC" stop "${2:?name}" ;;
  kill) bash "$SVC" kill "${2:?name}" ;;
  wait-relayer) wait_relayer ;;
  start-all)
    start relayer
    wait_relayer
    for p in "${PARTICIPANTS[@]}"; do start "$p"; done
    for e in "${EVALUATORS[@]}"; do start "$e" || true; done
    echo "cluster services: relayer $(addr_of relayer):8700, participants ${PARTICIPANTS[*]}, evaluators ${EVALUATORS[*]}"
    ;;
  *) echo "usage: services.sh start NAME | stop NAME | kill NAME | wait-relayer | start-all" >&2; exit 2 ;;
esac
