#!/usr/bin/env bash
# `make image` and `make image-check`: build the two images, and run the production one the way Cloud
# Run would, then test it from outside.
#
#   scripts/image.sh build   builds Dockerfile (python-script-api:dev) and Dockerfile.prod
#                            (python-script-api:prod) with Docker where a Docker engine answers, else
#                            with podman. With podman, base images that cannot be pulled are made
#                            locally first (scripts/make-base-images.sh), under the names the
#                            Dockerfiles use, so the Dockerfiles stay the ones a Docker user builds.
#   scripts/image.sh check   runs python-script-api:prod as root, without --privileged, with only the
#                            capabilities the container profile needs (README, "Docker"), with user
#                            namespaces refused (a seccomp profile: the engine's default, where
#                            unshare and clone may not ask for CLONE_NEWUSER and clone3 answers
#                            ENOSYS, so that callers fall back to clone), and with a memory limit;
#                            then runs scripts/smoke-test.sh and the attack corpus
#                            (scripts/check-container.py --all) against it, checks /health, and prints
#                            the images' sizes.
#
# Environment: ENGINE (docker or podman; detected), IMAGE_PORT (18090), IMAGE_MEMORY (2g).
# Machine-specific podman flags (this machine's TLS proxy CA and pip index; runc, since crun 1.8
# refuses its hybrid cgroup layout) are added only when those files or tools exist here.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

log() { printf 'image: %s\n' "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

engine=${ENGINE:-}
if [ -z "$engine" ]; then
  if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
    engine=docker
  elif command -v podman >/dev/null; then
    engine=podman
  else
    die "neither a Docker engine nor podman is available"
  fi
fi

build_flags=()
run_flags=()
if [ "$engine" = podman ]; then
  if command -v runc >/dev/null; then
    build_flags+=(--runtime runc)
    run_flags+=(--runtime runc)
  fi
  build_flags+=(--network=host)
  if compgen -G '/usr/local/share/ca-certificates/*' >/dev/null; then
    build_flags+=(-v /usr/local/share/ca-certificates:/usr/local/share/ca-certificates:ro)
  fi
  if [ -f /etc/pip.conf ]; then
    build_flags+=(-v /etc/pip.conf:/etc/pip.conf:ro)
  fi
fi

build() {
  if [ "$engine" = podman ]; then
    # Pulls are refused here; the stand-ins are made only for what is missing.
    local missing=0
    local ref
    while read -r ref; do
      podman image exists "$ref" || podman image exists "localhost/$ref" || missing=1
    done < <(sed -n -E 's/^FROM[[:space:]]+([^[:space:]]+).*/\1/p' Dockerfile Dockerfile.prod | sort -u)
    if [ "$missing" = 1 ]; then
      log "some base images are missing: making them locally (scripts/make-base-images.sh)"
      bash scripts/make-base-images.sh
    fi
  fi
  local started=$SECONDS
  log "building python-script-api:prod with $engine"
  "$engine" build "${build_flags[@]}" -f Dockerfile.prod -t python-script-api:prod .
  log "building python-script-api:dev with $engine"
  "$engine" build "${build_flags[@]}" -f Dockerfile -t python-script-api:dev .
  log "built both in $((SECONDS - started)) s"
  sizes
}

sizes() {
  "$engine" images --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep 'python-script-api:' || true
}

# The engine's default seccomp profile, with user namespaces refused.
no_userns_seccomp() {
  local out=$1 default=/usr/share/containers/seccomp.json
  [ "$engine" = docker ] && default=${DOCKER_SECCOMP:-}
  [ -f "$default" ] || die "the engine's default seccomp profile is not at ${default:-(unset)}; set DOCKER_SECCOMP to Docker's default.json"
  /usr/bin/python3 - "$default" "$out" <<'EOF'
import json, sys
CLONE_NEWUSER = 0x10000000
profile = json.load(open(sys.argv[1]))
for rule in profile["syscalls"]:
    rule["names"] = [n for n in rule["names"] if n not in ("unshare", "clone", "clone3")]
profile["syscalls"] = [r for r in profile["syscalls"] if r["names"]]
no_newuser = [{"index": 0, "value": CLONE_NEWUSER, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]
profile["syscalls"] += [
    {"names": ["unshare", "clone"], "action": "SCMP_ACT_ALLOW", "args": no_newuser},
    {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
]
json.dump(profile, open(sys.argv[2], "w"))
EOF
}

check() {
  local port=${IMAGE_PORT:-18090}
  # Not local: the EXIT trap runs after this function has returned.
  name=psa-image-check-$$
  work=$(mktemp -d)
  trap '"$engine" rm -f "$name" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
  no_userns_seccomp "$work/seccomp.json"
  local canary
  canary=$(/usr/bin/python3 -c 'import secrets; print(secrets.token_hex(16))')
  # As README's "Docker" section: the container profile's grant, and the remount of the container's
  # own memory and pids cgroups (v1) so that each run gets its cgroup; --network=host so that the
  # corpus's host-side bait is what a jail would reach without its own network namespace.
  # The capability list is one comma-separated argument; the entrypoint's $c is the container's.
  # shellcheck disable=SC2054,SC2016
  local cmd=(run -d --name "$name" "${run_flags[@]}" --network=host
    --cap-drop=ALL --cap-add=SYS_ADMIN,SETUID,SETGID,SETPCAP,KILL
    --security-opt apparmor=unconfined --security-opt "seccomp=$work/seccomp.json"
    --memory "${IMAGE_MEMORY:-2g}" -e "PORT=$port" -e "PSA_ATTACK_CANARY=$canary"
    --entrypoint sh python-script-api:prod
    -c 'for c in memory pids; do [ -d /sys/fs/cgroup/$c ] && mount -o remount,bind,rw /sys/fs/cgroup/$c; done; exec /usr/local/bin/python-script-api')
  log "$engine ${cmd[*]}"
  "$engine" "${cmd[@]}" >/dev/null
  local url=http://127.0.0.1:$port
  for _ in $(seq 120); do
    curl -fs --max-time 2 "$url/health" >/dev/null && break
    sleep 0.5
  done
  if "$engine" exec "$name" sh -c 'command -v unshare >/dev/null && unshare -U true' 2>/dev/null; then
    die "user namespaces are not refused in the container: the check would not be Cloud Run's"
  fi
  log "user namespaces are refused in the container"
  # Cloud Run's profile, and with the cgroups writable, fork mode (the default under it too).
  curl -fs "$url/health" | /usr/bin/python3 -c '
import json, sys
h = json.load(sys.stdin)
print("image: /health:", {k: h[k] for k in ("status", "profile", "limiter", "pool_mode", "pool_size", "pool_ready")})
if h["profile"] != "container" or (h["limiter"] != "rlimits" and h["pool_mode"] != "fork"):
    sys.exit("image: expected the container profile and fork mode")
' || die "the container did not start as Cloud Run would run it"
  bash scripts/smoke-test.sh "$url"
  /usr/bin/python3 scripts/check-container.py "$url" --all --canary "$canary"
  # A zygote replaced during the corpus means a forked child failed to isolate itself, or a run did
  # not end cleanly; the server's log says which.
  curl -fs "$url/metrics" | grep -E '^psa_pool_(hits|misses|zygote_starts)_total' || true
  sizes
}

case "${1:-}" in
  build) build ;;
  check) check ;;
  *) die "usage: scripts/image.sh build|check" ;;
esac
