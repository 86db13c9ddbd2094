#!/usr/bin/env bash
# Tests deploy-cloud-run.sh without Google Cloud: its argument handling, its exit codes, the
# commands its --dry-run prints, and (with a stub gcloud and a stub smoke test, no network) that a
# real run issues the same commands and ends with the smoke test.
# Usage: scripts/test-deploy-args.sh      Prints `deploy-args: N passed, M failed`.
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
deploy=$root/deploy-cloud-run.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The same PATH less gcloud, so the exit-3 check means the same on a machine that has gcloud: a
# directory that holds gcloud (often /usr/bin, next to bash itself) is replaced by a shadow
# directory of symlinks to everything else in it.
nogcloud_path=""
IFS=: read -ra dirs <<<"$PATH"
n=0
for d in "${dirs[@]}"; do
  [ -n "$d" ] && [ -d "$d" ] || continue
  if [ -e "$d/gcloud" ]; then
    n=$((n + 1))
    mkdir -p "$tmp/path$n"
    for f in "$d"/* "$d"/.[!.]*; do
      [ -e "$f" ] && [ "${f##*/}" != gcloud ] && ln -s "$f" "$tmp/path$n/${f##*/}"
    done
    d=$tmp/path$n
  fi
  nogcloud_path+="${nogcloud_path:+:}$d"
done
if PATH=$nogcloud_path command -v gcloud >/dev/null; then
  echo "test-deploy-args: cannot hide gcloud from PATH" >&2
  exit 1
fi

passed=0 failed=0
out="" code=0
# run_deploy ARG...: runs the deploy script without gcloud; sets $out (stdout+stderr) and $code.
run_deploy() {
  out=$(PATH=$nogcloud_path bash "$deploy" "$@" 2>&1)
  code=$?
}
ok() { printf 'ok    %s\n' "$1"; passed=$((passed + 1)); }
fail() {
  printf 'FAIL  %s: %s\n' "$1" "$2"
  printf '%s\n' "$out" | sed -n '1,30s/^/      | /p'
  failed=$((failed + 1))
}
# expect NAME CODE [SUBSTRING...]: the last run exited CODE (or "nonzero") and printed each substring.
expect() {
  local name=$1 want=$2 s
  shift 2
  if [ "$want" = nonzero ]; then
    [ "$code" -ne 0 ] || { fail "$name" "exit $code, want nonzero"; return; }
  else
    [ "$code" -eq "$want" ] || { fail "$name" "exit $code, want $want"; return; }
  fi
  for s in "$@"; do
    [[ $out == *"$s"* ]] || { fail "$name" "output lacks: $s"; return; }
  done
  ok "$name"
}

run_deploy
expect "no arguments: exit 2, names PROJECT_ID" 2 "missing PROJECT_ID"
run_deploy --dry-run --no-allow-unauthenticated
expect "options only: exit 2" 2 "missing PROJECT_ID"
run_deploy --help
expect "--help: exit 0 with usage" 0 "Usage:" "--service-account EMAIL" "--dry-run"
run_deploy -h
expect "-h: exit 0" 0 "Usage:"
run_deploy myproj --bogus
expect "unknown flag: nonzero" nonzero "unknown option: --bogus"
run_deploy myproj europe-west1 extra
expect "three positionals: nonzero" nonzero "too many arguments"
run_deploy myproj --service-account
expect "--service-account without value: nonzero" nonzero "--service-account needs a value"
run_deploy myproj --service --dry-run
expect "--service followed by a flag: nonzero" nonzero "--service needs a value"
run_deploy myproj
expect "no gcloud, no --dry-run: exit 3" 3 "gcloud is not on PATH"
run_deploy myproj europe-west1 --no-allow-unauthenticated
expect "no gcloud with options: exit 3" 3 "gcloud is not on PATH"

run_deploy --dry-run myproj europe-west1 --service-account sa@x.iam.gserviceaccount.com --no-allow-unauthenticated
expect "dry run: the deploy command" 0 \
  "gcloud run deploy python-script-api" \
  "--execution-environment gen2" \
  "--region europe-west1" \
  "--service-account sa@x.iam.gserviceaccount.com" \
  "--no-allow-unauthenticated" \
  "--concurrency 10" \
  "--session-affinity" \
  "--memory 2Gi --cpu 2" \
  "--timeout 360" \
  "--port 8080" \
  "--startup-probe httpGet.path=/health," \
  "/health" \
  "HOST=0.0.0.0" \
  "SANDBOX_PROFILE=auto" \
  "SANDBOX_SLOTS=2" \
  "SANDBOX_QUEUE=8"
# Cloud Run must send an instance no more requests than it admits: --concurrency is derived, so
# check the relation, not only today's figures. The server admits SANDBOX_SLOTS running plus at
# most SANDBOX_QUEUE waiting (fewer when runs are slow: the queue is sized by the expected wait).
concurrency=$(grep -o -- '--concurrency [0-9]*' <<<"$out" | head -1 | cut -d' ' -f2)
slots=$(grep -o 'SANDBOX_SLOTS=[0-9]*' <<<"$out" | head -1 | cut -d= -f2)
queue=$(grep -o 'SANDBOX_QUEUE=[0-9]*' <<<"$out" | head -1 | cut -d= -f2)
if [ -n "$concurrency" ] && [ -n "$slots" ] && [ -n "$queue" ] && [ "$concurrency" -eq $((slots + queue)) ]; then
  ok "dry run: --concurrency is SANDBOX_SLOTS + SANDBOX_QUEUE"
else
  fail "dry run: --concurrency is SANDBOX_SLOTS + SANDBOX_QUEUE" "concurrency '$concurrency', slots '$slots', queue '$queue'"
fi
# The Windows script deploys the same instance.
bat=$root/deploy-cloud-run.bat
if grep -q "^set \"SLOTS=$slots\"" "$bat" && grep -q "^set \"QUEUE=$queue\"" "$bat" &&
  grep -q "set /a CONCURRENCY=SLOTS+QUEUE" "$bat" && grep -q -- "--concurrency %CONCURRENCY%" "$bat"; then
  ok "deploy-cloud-run.bat: the same slots and queue, the same derived --concurrency"
else
  fail "deploy-cloud-run.bat: the same slots and queue, the same derived --concurrency" "see $bat"
fi
expect "dry run: builds Dockerfile.prod with Cloud Build" 0 \
  "gcloud builds submit" "--config" '"--file", "Dockerfile.prod"' \
  "europe-west1-docker.pkg.dev/myproj/python-script-api/python-script-api:"
# shellcheck disable=SC2016 # the literal text the script prints for the user's shell
expect "dry run: curl line and smoke test carry an identity token" 0 \
  'Authorization: Bearer $(gcloud auth print-identity-token)' \
  "scripts/smoke-test.sh '<SERVICE_URL>' --token"
if [[ $out == *"--allow-unauthenticated"* ]]; then
  fail "dry run: no --allow-unauthenticated" "printed --allow-unauthenticated"
else
  ok "dry run: no --allow-unauthenticated"
fi

run_deploy --service my-api --dry-run myproj
expect "flags before positionals; defaults" 0 \
  "gcloud run deploy my-api" "--region us-central1" "--allow-unauthenticated" "scripts/smoke-test.sh '<SERVICE_URL>'"
if [[ $out == *"--no-allow-unauthenticated"* || $out == *"--service-account"* || $out == *"Authorization:"* ]]; then
  fail "public by default: no token, no service account" "found one of them"
else
  ok "public by default: no token, no service account"
fi

run_deploy --dry-run myproj --background-cpu
expect "--background-cpu: CPU outside requests, for jobs" 0 "--no-cpu-throttling"
run_deploy --dry-run myproj
if [[ $out == *"--no-cpu-throttling"* ]]; then
  fail "CPU throttled by default" "printed --no-cpu-throttling"
else
  ok "CPU throttled by default"
fi

run_deploy --dry-run Not_A_Project
expect "invalid PROJECT_ID: exit 2" 2 "not a valid project id"
run_deploy --dry-run myproj "europe west"
expect "invalid REGION: exit 2" 2 "not a valid region"

# A real run against stubs: a gcloud that logs its arguments, and a copy of the deploy script
# beside a stub smoke test. Nothing leaves the machine.
mkdir -p "$tmp/bin" "$tmp/repo/scripts"
cp "$deploy" "$tmp/repo/deploy-cloud-run.sh"
cat >"$tmp/bin/gcloud" <<'EOF'
#!/usr/bin/env bash
printf '%s\n' "$*" >>"$STUB_LOG"
case "$*" in
  "run services describe"*) echo "https://python-script-api-abc123-ew.a.run.app" ;;
  "auth print-identity-token"*) echo "stub-token" ;;
  "artifacts repositories describe"*) exit 1 ;;
esac
EOF
cat >"$tmp/repo/scripts/smoke-test.sh" <<'EOF'
#!/usr/bin/env bash
printf 'smoke %s token=%s\n' "$*" "${SMOKE_TOKEN:-}" >>"$STUB_LOG"
EOF
chmod +x "$tmp/bin/gcloud" "$tmp/repo/scripts/smoke-test.sh"
export STUB_LOG=$tmp/calls.log
out=$(PATH=$tmp/bin:$nogcloud_path IMAGE_TAG=t1 bash "$tmp/repo/deploy-cloud-run.sh" myproj europe-west1 \
  --service-account sa@x.iam.gserviceaccount.com --no-allow-unauthenticated 2>&1)
code=$?
expect "stubbed run: exit 0, prints the URL" 0 "Service URL: https://python-script-api-abc123-ew.a.run.app"
out=$(cat "$STUB_LOG" 2>/dev/null)
expect "stubbed run: the gcloud arguments, smoke test with the token" 0 \
  "artifacts repositories create python-script-api --project myproj --location europe-west1" \
  "builds submit $tmp/repo --project myproj --config" \
  "run deploy python-script-api --project myproj --region europe-west1" \
  "--image europe-west1-docker.pkg.dev/myproj/python-script-api/python-script-api:t1" \
  "--execution-environment gen2" \
  "--startup-probe httpGet.path=/health," \
  "--service-account sa@x.iam.gserviceaccount.com --no-allow-unauthenticated" \
  "smoke https://python-script-api-abc123-ew.a.run.app token=stub-token"
order=$(awk '{print $1 " " $2}' "$STUB_LOG" | paste -sd'|' -)
want_order="services enable|artifacts repositories|artifacts repositories|builds submit|run deploy|run services|auth print-identity-token|smoke https://python-script-api-abc123-ew.a.run.app"
if [ "$order" = "$want_order" ]; then
  ok "stubbed run: steps in order (enable, repository, build, deploy, URL, token, smoke)"
else
  fail "stubbed run: steps in order" "got $order"
fi
if [ "$(tail -n1 "$STUB_LOG")" = "smoke https://python-script-api-abc123-ew.a.run.app token=stub-token" ] &&
  ! grep -q stub-token <<<"$(PATH=$tmp/bin:$nogcloud_path bash "$tmp/repo/deploy-cloud-run.sh" myproj --no-allow-unauthenticated 2>&1)"; then
  ok "stubbed run: smoke test is the last step; the token is never printed"
else
  fail "stubbed run: smoke test is the last step; the token is never printed" "see $STUB_LOG"
fi

printf 'deploy-args: %d passed, %d failed\n' "$passed" "$failed"
[ "$failed" -eq 0 ]
