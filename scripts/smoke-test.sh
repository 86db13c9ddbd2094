#!/usr/bin/env bash
# Smoke test of a running python-script-api, local or deployed. Needs only bash, curl, grep and sed.
# Usage: scripts/smoke-test.sh URL [--token TOKEN]
#   URL      the service's base URL, e.g. http://127.0.0.1:8080 or https://NAME-HASH.REGION.run.app
#   --token  sent as "Authorization: Bearer TOKEN" (a Cloud Run identity token); SMOKE_TOKEN works too
# Prints one line per check and `smoke: N passed, M failed`; exits 0 only if every check passed.
# Every request is bounded by curl --max-time, so the whole run takes well under two minutes.
set -euo pipefail

usage() { sed -n '2,7s/^# \{0,1\}//p' "$0"; }

url=""
token=${SMOKE_TOKEN:-}
while [ $# -gt 0 ]; do
  case $1 in
    -h | --help) usage; exit 0 ;;
    --token)
      [ $# -ge 2 ] || { echo "smoke-test: --token needs a value" >&2; exit 2; }
      token=$2
      shift 2 ;;
    --token=*) token=${1#--token=}; shift ;;
    -*) echo "smoke-test: unknown option $1" >&2; usage >&2; exit 2 ;;
    *)
      [ -z "$url" ] || { echo "smoke-test: one URL only" >&2; exit 2; }
      url=$1
      shift ;;
  esac
done
[ -n "$url" ] || { echo "smoke-test: missing URL" >&2; usage >&2; exit 2; }
command -v curl >/dev/null || { echo "smoke-test: curl is not on PATH" >&2; exit 3; }
url=${url%/}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The token goes to curl through a header file, not its argv, so `ps` does not show it.
headers=$tmp/headers
: >"$headers"
chmod 600 "$headers"
if [ -n "$token" ]; then
  printf 'Authorization: Bearer %s\n' "$token" >"$headers"
fi

status="" body=""
# request METHOD PATH [JSON_BODY]: sets $status and $body; status 000 when curl failed outright.
request() {
  local method=$1 path=$2 data=${3-} max_time=${MAX_TIME:-60}
  local args=(-sS -o "$tmp/body" -w '%{http_code}' --max-time "$max_time" -X "$method" -H @"$headers")
  if [ -n "$data" ]; then
    args+=(-H 'Content-Type: application/json' --data-binary @-)
  fi
  status=$(printf '%s' "$data" | curl "${args[@]}" "$url$path" 2>"$tmp/err") || status=000
  body=$(cat "$tmp/body" 2>/dev/null || true)
  if [ "$status" = 000 ]; then body="$(tr '\n' ' ' <"$tmp/err")"; fi
}

passed=0 failed=0
# expect NAME WANT_STATUS PATTERN...: every grep -E PATTERN must match the body.
expect() {
  local name=$1 want=$2 p
  shift 2
  local ok=1
  [ "$status" = "$want" ] || ok=0
  for p in "$@"; do
    printf '%s' "$body" | grep -Eq -- "$p" || ok=0
  done
  if [ "$ok" = 1 ]; then
    printf 'ok    %-10s %s\n' "$name" "$status"
    passed=$((passed + 1))
  else
    printf 'FAIL  %-10s want %s matching %s; got %s %.300s\n' "$name" "$want" "$*" "$status" "$body"
    failed=$((failed + 1))
  fi
}

# 1. Health. A cold Cloud Run instance may need a few seconds: up to 5 tries, 2 s apart.
for _ in 1 2 3 4 5; do
  MAX_TIME=30 request GET /health
  [ "$status" = 200 ] && break
  case $status in 000 | 429 | 5??) sleep 2 ;; *) break ;; esac
done
expect health 200 '"status":"healthy"'

# 2. Hello world: main()'s return value comes back as JSON.
request POST /execute '{"script":"def main():\n    print(\"hi\")\n    return \"hello, world\"","timeout":30}'
expect hello 200 '"success":true' '"result":"hello, world"' '"stdout":"hi\\n"'

# 3. pandas from the sandbox venv: 1+2+3+4 + 10+20+30+40 = 110.
request POST /execute '{"script":"import pandas as pd\n\ndef main():\n    df = pd.DataFrame({\"a\": [1, 2, 3, 4], \"b\": [10, 20, 30, 40]})\n    return int(df[\"a\"].sum() + df[\"b\"].sum())","timeout":60}'
expect pandas 200 '"success":true' '"result":110[,}]'

# 4. No top-level main(): rejected before anything runs.
request POST /execute '{"script":"x = 1\nprint(x)"}'
expect no-main 400 '"success":false' '"error_type":"validation_error"'

# 5. A run past its timeout is stopped: 1 s limit, 10 s sleep.
MAX_TIME=30 request POST /execute '{"script":"import time\ndef main():\n    time.sleep(10)","timeout":1}'
expect timeout 422 '"success":false' '"error_type":"timeout"'

# 6. The environment recorded at setup (a missing environment.json is a 503 here).
request GET /environment
expect env 200 '"python_version":"3[.]' '"name":"pandas","version":"[0-9]'

# 7. Validation runs nothing and flags a module the sandbox lacks.
request POST /validate '{"script":"import pandas\nimport nosuchmodule_xyz\ndef main():\n    return 1"}'
expect validate 200 '"valid":true' '"unavailable_imports":\["nosuchmodule_xyz"\]'

# 8. The playground and the API reference, embedded in the binary (the pages need no key).
request GET /
expect playground 200 'data-testid="editor"' '/assets/app[.]js'
request GET /docs
expect docs 200 '/assets/swagger-ui-bundle[.]js'
request GET /assets/app.js
expect assets 200 '/execute/stream'

printf 'smoke: %d passed, %d failed\n' "$passed" "$failed"
[ "$failed" -eq 0 ]
