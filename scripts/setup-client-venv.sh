#!/usr/bin/env bash
# Installs, idempotently, the venv the Python client's tests run in (tests/api/python_client.rs):
# .sandbox/client-venv (git-ignored), made with Debian's /usr/bin/python3, holding
# clients/python/requirements-test.txt (httpx, pytest, mypy, flit_core; pinned, --require-hashes)
# and the client itself, installed from the repository as a user would (`pip install
# ./clients/python`, not editable, so that what is tested is what pip builds). A second run does
# nothing unless the requirements or the client's files changed. `make test` runs it.
# Usage: scripts/setup-client-venv.sh      (CLIENT_PYTHON=/path/to/python3 for another interpreter)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

venv=.sandbox/client-venv
python=${CLIENT_PYTHON:-/usr/bin/python3}
client=clients/python
requirements=$client/requirements-test.txt

log() { printf 'setup-client-venv: %s\n' "$*" >&2; }

# What the venv was made from: the requirements, the interpreter, and every file of the package.
stamp() {
  {
    sha256sum "$requirements"
    "$python" -c 'import sys; print(sys.version)'
    find "$client/pyproject.toml" "$client/README.md" "$client/src" -type f ! -name '*.pyc' -print0 |
      sort -z | xargs -0 sha256sum
  } | sha256sum | cut -d' ' -f1
}

want=$(stamp)
if [ -f "$venv/.installed" ] && [ "$(cat "$venv/.installed")" = "$want" ] && [ -x "$venv/bin/python" ]; then
  exit 0
fi

if ! "$python" -c 'import ensurepip' 2>/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "installing python3-venv (needed for $venv)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv
  else
    log "error: $python cannot create a venv (install python3-venv, or set CLIENT_PYTHON)"
    exit 1
  fi
fi

deps_want=$(sha256sum "$requirements" | cut -d' ' -f1)
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$venv/.requirements" 2>/dev/null)" != "$deps_want" ]; then
  log "installing the client's test tools into $venv"
  rm -rf "$venv"
  "$python" -m venv "$venv"
  "$venv/bin/pip" install --disable-pip-version-check --quiet --no-cache-dir \
    --require-hashes --only-binary=:all: -r "$requirements"
  echo "$deps_want" >"$venv/.requirements"
fi

log "installing the client from $client into $venv"
# No build isolation and no index: flit_core comes from the requirements above, so nothing
# unpinned is fetched. A copy, so that the build leaves nothing in the checkout.
build=$(mktemp -d)
trap 'rm -rf "$build"' EXIT
cp -r "$client/pyproject.toml" "$client/README.md" "$client/src" "$build/"
"$venv/bin/pip" install --disable-pip-version-check --quiet --no-cache-dir --no-index \
  --no-deps --no-build-isolation --force-reinstall "$build"
echo "$want" >"$venv/.installed"
