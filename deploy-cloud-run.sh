#!/usr/bin/env bash
# Builds Dockerfile.prod with Cloud Build, deploys it to Cloud Run, prints the URL and a curl line,
# and ends with scripts/smoke-test.sh against the new service.
#
# Usage: ./deploy-cloud-run.sh PROJECT_ID [REGION] [options]     (options may come first too)
#   REGION                       default us-central1
#   --service NAME               Cloud Run service (and image) name, default python-script-api
#   --service-account EMAIL      run the service as this service account
#   --no-allow-unauthenticated   require an identity token (default: public)
#   --background-cpu             keep CPU allocated outside requests, so that jobs (POST /jobs) run
#                                while no request is in flight (--no-cpu-throttling; billed so)
#   --dry-run                    print the commands instead of running them (gcloud not needed)
#   -h, --help                   this text
# Exit codes: 0 deployed and smoke-tested, 2 bad arguments, 3 gcloud not on PATH, other: the
# failing step's own code (a failed smoke test included).
# Environment: IMAGE_TAG (default: UTC timestamp), AR_REPOSITORY (Artifact Registry repository,
# default python-script-api, created on first use).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

usage() { sed -n '2,18s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; }
die_usage() {
  printf 'deploy-cloud-run: %s\n' "$1" >&2
  printf 'Usage: %s PROJECT_ID [REGION] [--service NAME] [--service-account EMAIL] [--no-allow-unauthenticated] [--background-cpu] [--dry-run]\n' "$0" >&2
  exit 2
}

# ---- arguments: checked before anything needs gcloud ----------------------------------------
project="" region="" service=python-script-api service_account="" allow_unauth=1 dry_run=0 background_cpu=0
positional=()
while [ $# -gt 0 ]; do
  case $1 in
    -h | --help) usage; exit 0 ;;
    --dry-run) dry_run=1; shift ;;
    --background-cpu) background_cpu=1; shift ;;
    --no-allow-unauthenticated) allow_unauth=0; shift ;;
    --allow-unauthenticated) allow_unauth=1; shift ;;
    --service | --service-account)
      if [ $# -lt 2 ] || [ -z "$2" ] || [ "${2#-}" != "$2" ]; then die_usage "$1 needs a value"; fi
      if [ "$1" = --service ]; then service=$2; else service_account=$2; fi
      shift 2 ;;
    --service=*) service=${1#*=}; shift ;;
    --service-account=*) service_account=${1#*=}; shift ;;
    --) shift; positional+=("$@"); break ;;
    -*) die_usage "unknown option: $1" ;;
    *) positional+=("$1"); shift ;;
  esac
done
[ ${#positional[@]} -ge 1 ] || die_usage "missing PROJECT_ID (the Google Cloud project to deploy to)"
[ ${#positional[@]} -le 2 ] || die_usage "too many arguments: ${positional[*]}"
project=${positional[0]}
region=${positional[1]:-us-central1}
[[ $project =~ ^[a-z][-a-z0-9:.]{4,}[a-z0-9]$ ]] || die_usage "PROJECT_ID '$project' is not a valid project id"
[[ $region =~ ^[a-z]+-[a-z]+[0-9]+$ ]] || die_usage "REGION '$region' is not a valid region (e.g. europe-west1)"
[[ $service =~ ^[a-z]([-a-z0-9]{0,47}[a-z0-9])?$ ]] || die_usage "--service '$service' is not a valid Cloud Run service name"
if [ -n "$service_account" ] && [[ $service_account != *@* ]]; then
  die_usage "--service-account '$service_account' is not an email address"
fi

if [ "$dry_run" = 0 ] && ! command -v gcloud >/dev/null 2>&1; then
  echo "deploy-cloud-run: gcloud is not on PATH; install the Google Cloud CLI and run 'gcloud auth login' (or use --dry-run)" >&2
  exit 3
fi

# ---- what is deployed ---------------------------------------------------------------------------
# Two sandboxes at once on 2 vCPUs, and at most eight more requests queued (fewer when runs are
# slow: the server queues a request only while its expected wait stays within
# SANDBOX_QUEUE_WAIT_SECS). Cloud Run's concurrency is derived from both, slots + queue, so that an
# instance is never sent more than it can admit; the rest wait in Cloud Run's own queue or go to
# another instance, which beats a deeper queue here. scripts/test-deploy-args.sh checks the sum.
slots=2
queue=8
concurrency=$((slots + queue))
# Per-run memory cap: two runs at the cap fit the 2 GiB instance with room for the server.
max_memory_mb=768
repository=${AR_REPOSITORY:-python-script-api}
tag=${IMAGE_TAG:-$(date -u +%Y%m%d-%H%M%S)}
image="$region-docker.pkg.dev/$project/$repository/$service:$tag"

# show ARG...: prints a command as one copy-pasteable line, quoting only the words that need it.
show() {
  local a line="+"
  for a in "$@"; do
    if [[ $a =~ ^[A-Za-z0-9_./:=,@%+-]+$ ]]; then
      line+=" $a"
    else
      line+=" '${a//\'/\'\\\'\'}'"
    fi
  done
  printf '%s\n' "$line"
}
run() { # prints the command; runs it unless --dry-run
  show "$@"
  if [ "$dry_run" = 0 ]; then "$@"; fi
}

# `gcloud builds submit --tag` always builds ./Dockerfile (the development image). To build
# Dockerfile.prod, the build gets a one-step Cloud Build config, generated here so that the repo
# carries no second description of the build: docker build -f Dockerfile.prod, then push.
# The uploaded source honours .gitignore (gcloud's default when there is no .gcloudignore), so
# target/ and .sandbox/ stay home.
build_config=$(mktemp "${TMPDIR:-/tmp}/cloudbuild.XXXXXX")
trap 'rm -f "$build_config"' EXIT
cat >"$build_config" <<EOF
steps:
  - name: gcr.io/cloud-builders/docker
    args: ["build", "--file", "Dockerfile.prod", "--tag", "$image", "."]
images: ["$image"]
timeout: 1800s
EOF

echo "== $service -> project $project, region $region, image $image"
if [ "$dry_run" = 1 ]; then
  echo "== dry run: the commands are printed, not run; Cloud Build config ($build_config):"
  sed 's/^/    /' "$build_config"
fi

echo "== enabling the APIs"
run gcloud services enable run.googleapis.com cloudbuild.googleapis.com artifactregistry.googleapis.com \
  --project "$project"

echo "== Artifact Registry repository $repository"
if [ "$dry_run" = 1 ] || ! gcloud artifacts repositories describe "$repository" \
  --project "$project" --location "$region" >/dev/null 2>&1; then
  run gcloud artifacts repositories create "$repository" --project "$project" --location "$region" \
    --repository-format docker --description "python-script-api images"
fi

echo "== building Dockerfile.prod with Cloud Build"
run gcloud builds submit "$here" --project "$project" --config "$build_config"

echo "== deploying"
deploy=(gcloud run deploy "$service"
  --project "$project" --region "$region" --platform managed
  --image "$image"
  # gen1's gVisor sandbox cannot create nsjail's namespaces; gen2 is a microVM with a real kernel.
  --execution-environment gen2
  --memory 2Gi --cpu 2
  --concurrency "$concurrency"
  # Sessions live in one instance's memory: a client's calls (with Cloud Run's affinity cookie)
  # go back to it, best effort. When it is gone the client gets 404 session_not_found (README).
  --session-affinity
  # A run may last MAX_TIMEOUT_SECS (300 s); the request timeout leaves room for queueing.
  --timeout 360
  --port 8080
  --startup-probe "httpGet.path=/health,httpGet.port=8080,initialDelaySeconds=0,periodSeconds=5,timeoutSeconds=3,failureThreshold=24"
  --set-env-vars "HOST=0.0.0.0,SANDBOX_PROFILE=auto,SANDBOX_SLOTS=$slots,SANDBOX_QUEUE=$queue,MAX_TIMEOUT_SECS=300,MAX_MEMORY_MB=$max_memory_mb")
if [ -n "$service_account" ]; then deploy+=(--service-account "$service_account"); fi
if [ "$allow_unauth" = 1 ]; then deploy+=(--allow-unauthenticated); else deploy+=(--no-allow-unauthenticated); fi
# Jobs run on a worker task, outside any request: without this, Cloud Run throttles the CPU between
# requests and a queued job waits for the next request to make progress (README, Jobs).
if [ "$background_cpu" = 1 ]; then deploy+=(--no-cpu-throttling); fi
run "${deploy[@]}"

if [ "$dry_run" = 1 ]; then
  url='<SERVICE_URL>'
  run gcloud run services describe "$service" --project "$project" --region "$region" --format 'value(status.url)'
else
  url=$(gcloud run services describe "$service" --project "$project" --region "$region" --format 'value(status.url)')
fi

echo
echo "Service URL: $url"
echo "Try it:"
auth_header=""
if [ "$allow_unauth" = 0 ]; then
  # shellcheck disable=SC2016 # printed for the user's shell to expand
  auth_header=' -H "Authorization: Bearer $(gcloud auth print-identity-token)"'
fi
cat <<EOF
  curl -sS -X POST '$url/execute'$auth_header -H 'Content-Type: application/json' \\
    -d '{"script": "def main():\\n    return {\\"answer\\": 6 * 7}", "timeout": 30}'
EOF
echo

echo "== smoke test"
smoke=$here/scripts/smoke-test.sh
if [ "$dry_run" = 1 ]; then
  if [ "$allow_unauth" = 0 ]; then
    # shellcheck disable=SC2016 # printed for the user's shell to expand
    printf '%s --token "$(gcloud auth print-identity-token)"\n' "$(show "$smoke" "$url")"
  else
    show "$smoke" "$url"
  fi
  exit 0
fi
if [ "$allow_unauth" = 0 ]; then
  # Handed over in SMOKE_TOKEN (smoke-test.sh's equivalent of --token), so no argv shows it.
  SMOKE_TOKEN=$(gcloud auth print-identity-token)
  export SMOKE_TOKEN
  printf '%s --token <identity token>\n' "$(show "$smoke" "$url")"
else
  show "$smoke" "$url"
fi
"$smoke" "$url"
