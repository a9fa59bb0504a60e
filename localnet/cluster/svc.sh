#!/usr/bin/env bash
# Start, stop or kill one process of the cluster, by the pid file it records.
#   svc.sh start NAME HOST CMD...   run CMD in HOST's namespace, log in logs/NAME.log
#   svc.sh stop NAME                SIGTERM, then SIGKILL after 15 s
#   svc.sh kill NAME                SIGKILL at once (a crash)
#   svc.sh running NAME             exit 0 if it runs
#   svc.sh stop-all                 stop every process that has a pid file
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
load_net
mkdir -p "$PIDS_DIR" "$LOGS_DIR"

alive() { [ -f "$PIDS_DIR/$1.pid" ] && kill -0 "$(cat "$PIDS_DIR/$1.pid")" 2>/dev/null; }

stop_one() {
  local name=$1 pid
  [ -f "$PIDS_DIR/$name.pid" ] || return 0
  pid="$(cat "$PIDS_DIR/$name.pid")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    if kill -0 "$pid" 2>/dev/null; then
      echo "cluster: $name (pid $pid) ignored SIGTERM for 15 s; SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$PIDS_DIR/$name.pid"
}

case "${1:-}" in
  start)
    name=${2:?name}; host=${3:?host}; shift 3
    if alive "$name"; then echo "cluster: $name already runs (pid $(cat "$PIDS_DIR/$name.pid"))"; exit 0; fi
    echo "=== $name start $(date -u +%FT%T.%3NZ): $*" >> "$LOGS_DIR/$name.log"
    # setsid: outlives make; `ip netns exec` and setsid exec in place, so $! is the service.
    if [ "${NET_MODE:-}" = "netns" ]; then
      setsid ip netns exec "fs-$host" "$@" >>"$LOGS_DIR/$name.log" 2>&1 < /dev/null &
    else
      setsid "$@" >>"$LOGS_DIR/$name.log" 2>&1 < /dev/null &
    fi
    echo $! > "$PIDS_DIR/$name.pid"
    ;;
  stop) stop_one "${2:?name}" ;;
  kill)
    name=${2:?name}
    if alive "$name"; then kill -KILL "$(cat "$PIDS_DIR/$name.pid")"; fi
    rm -f "$PIDS_DIR/$name.pid"
    ;;
  running) alive "${2:?name}" ;;
  stop-all)
    shopt -s nullglob
    # Services first, the chain and the store last.
    for f in "$PIDS_DIR"/e*.pid "$PIDS_DIR"/p*.pid "$PIDS_DIR"/relayer.pid "$PIDS_DIR"/*.pid; do
      if [ -f "$f" ]; then stop_one "$(basename "$f" .pid)"; fi
    done
    ;;
  *) echo "usage: svc.sh start NAME HOST CMD... | stop NAME | kill NAME | running NAME | stop-all" >&2; exit 2 ;;
esac
