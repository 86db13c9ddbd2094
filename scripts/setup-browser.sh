#!/usr/bin/env bash
# Installs, idempotently, what the browser tests (tests/browser/, run by tests/browser.rs) need:
# - Debian's chromium and chromium-driver (apt; skipped when both are already installed);
# - .sandbox/browser-venv: Selenium and its dependencies (tests/browser/requirements.txt, pinned by
#   hash), rebuilt only when that file changed (a stamp holds its hash).
# Nothing is downloaded at test time: Selenium is pointed at /usr/bin/chromedriver, so its own
# driver manager never fetches a browser.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf 'setup-browser: %s\n' "$*" >&2; }

if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    log "error: chromium and chromium-driver are missing (apt-get install chromium chromium-driver)"
    exit 1
  fi
  log "installing chromium and chromium-driver (apt)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    chromium chromium-driver fonts-dejavu-core >/dev/null
fi

python=${BROWSER_TEST_PYTHON:-/usr/bin/python3}
venv=.sandbox/browser-venv
mkdir -p .sandbox
want=$(sha256sum tests/browser/requirements.txt | cut -d' ' -f1)
if [ "$(cat "$venv/.stamp" 2>/dev/null)" != "$want" ]; then
  rm -rf "$venv"
  "$python" -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check --no-cache-dir --no-deps \
    --require-hashes --only-binary=:all: -r tests/browser/requirements.txt
  echo "$want" >"$venv/.stamp"
  log "installed $venv"
fi
