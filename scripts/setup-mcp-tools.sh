#!/usr/bin/env bash
# Installs, idempotently, what the MCP tests need into the checkout's .sandbox/ (git-ignored):
# - .sandbox/mcp-venv: the official MCP Python SDK (tests/mcp/requirements.txt, pinned by hash), the
#   client tests/api/mcp.rs drives /mcp with;
# - .sandbox/mcp-conformance: the official conformance suite (tests/mcp/conformance/package.json and its
#   lock, `npm ci`), which scripts/mcp-conformance.sh runs against a server.
# Each is rebuilt only when its pinned definition changed (a stamp holds the definition's hash).
# Not here: the sandbox itself (scripts/setup-sandbox.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

python=${MCP_TEST_PYTHON:-/usr/bin/python3.11}
mkdir -p .sandbox

venv=.sandbox/mcp-venv
want=$(sha256sum tests/mcp/requirements.txt | cut -d' ' -f1)
if [ "$(cat "$venv/.stamp" 2>/dev/null)" != "$want" ]; then
  rm -rf "$venv"
  "$python" -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps --require-hashes \
    -r tests/mcp/requirements.txt
  echo "$want" >"$venv/.stamp"
  echo "setup-mcp-tools: installed $venv"
fi

suite=.sandbox/mcp-conformance
want=$(cat tests/mcp/conformance/package.json tests/mcp/conformance/package-lock.json | sha256sum | cut -d' ' -f1)
if [ "$(cat "$suite/.stamp" 2>/dev/null)" != "$want" ]; then
  command -v npm >/dev/null || { echo "setup-mcp-tools: npm is missing (apt-get install npm)" >&2; exit 1; }
  rm -rf "$suite"
  mkdir -p "$suite"
  cp tests/mcp/conformance/package.json tests/mcp/conformance/package-lock.json "$suite/"
  (cd "$suite" && npm ci --silent --no-audit --no-fund)
  echo "$want" >"$suite/.stamp"
  echo "setup-mcp-tools: installed $suite"
fi
