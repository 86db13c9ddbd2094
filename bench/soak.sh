#!/usr/bin/env bash
# `make soak` (issue 5): SOAK_SECS (default 300) of mixed, partly hostile traffic against one release
# server with default settings, from wrk at a concurrency above slots + queue (so some 429s happen).
# Mix: hello world, pandas, timeouts (1 s limit, sleeping), memory-limit hits (64 MiB, a 1 GiB
# bytearray), fork bombs (2 s limit) and stdout floods (bench/soak_probe.py has the scripts).
# Then it looks for what the runs left behind: processes, server fds, run cgroups, temp entries, leaked
# queue places, and server RSS growth. Bar: 0 5xx, 0 leftovers, RSS growth < 50 MiB; exit 1 if missed.
# Environment: SOAK_SECS (300), SOAK_CONNS (16 wrk connections), SOAK_PORT (first port to try, 18320).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
LOG_TAG=soak
# shellcheck source=bench/lib.sh
. bench/lib.sh

secs=${SOAK_SECS:-300}
conns=${SOAK_CONNS:-16}
probe=(/usr/bin/python3 bench/soak_probe.py)

prepare
work=bench/.work/soak-$$
mkdir -p "$work"
port=$(pick_port "${SOAK_PORT:-18320}")
cgroup=psa-soak-$$            # unique: our run cgroups are told apart from other servers'
SERVER_PID=
sampler=
# shellcheck disable=SC2329 # invoked by the trap
cleanup() {
  [ -z "$sampler" ] || kill "$sampler" 2>/dev/null || true
  stop_server
  remove_parent_cgroups "$cgroup"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start_server "$port" "$cgroup" "$work/server.log"
url=http://127.0.0.1:$port/execute
"${probe[@]}" mix "$work/mix.tsv"

# Warm-up: one request of each kind, so that the "before" figures include what the server allocates
# lazily on first use.
while IFS=$'\t' read -r _weight name body; do
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 60 "$url" -d "$body")
  log "warm-up $name: $code"
done <"$work/mix.tsv"
wait_idle "$port"
sleep 1
"${probe[@]}" snapshot --pid "$SERVER_PID" --cgroup "$cgroup" --port "$port" >"$work/before.json"

# Every 5 s: time, server VmRSS (KiB), open fds, direct children.
(
  while kill -0 "$SERVER_PID" 2>/dev/null; do
    rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$SERVER_PID/status" 2>/dev/null || echo 0)
    fds=$(find "/proc/$SERVER_PID/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
    kids=$(pgrep -P "$SERVER_PID" | wc -l || true)
    echo "$(date +%s) $rss $fds $kids"
    sleep 5
  done
) >"$work/samples.txt" &
sampler=$!

log "wrk: ${secs} s, $conns connections, 2 threads, against $url"
wrk -t 2 -c "$conns" -d "${secs}s" --timeout 120s -s bench/wrk/mixed.lua "$url" -- "$work/mix.tsv" \
  | tee "$work/wrk.txt"

# Let the last runs finish and their cleanup happen, then look.
wait_idle "$port" || true
sleep 3
kill "$sampler" 2>/dev/null || true
sampler=
curl -s "http://127.0.0.1:$port/metrics" >"$work/metrics.txt" || true
"${probe[@]}" snapshot --pid "$SERVER_PID" --cgroup "$cgroup" --port "$port" >"$work/after.json"
pid=$SERVER_PID
stop_server
sleep 1
"${probe[@]}" snapshot --pid "$pid" --cgroup "$cgroup" --port "$port" >"$work/after-stop.json"

rc=0
"${probe[@]}" report --pid "$pid" --conns "$conns" \
  --before "$work/before.json" --after "$work/after.json" --after-stop "$work/after-stop.json" \
  --wrk "$work/wrk.txt" --metrics "$work/metrics.txt" --samples "$work/samples.txt" \
  --server-log "$work/server.log" \
  --out "bench/results/soak-$(date +%F)-${secs}s.json" || rc=$?
exit "$rc"
