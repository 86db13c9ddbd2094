#!/usr/bin/env bash
# Runs the official MCP conformance suite (pinned in tests/mcp/conformance/, installed into
# .sandbox/mcp-conformance by setup-mcp-tools.sh) against a running server's /mcp, with the
# committed baseline of expected failures (tests/mcp/conformance/baseline.yml, each justified
# there). Fails on a new failure, and on an expected failure that now passes (the baseline is
# then stale). Usage: scripts/mcp-conformance.sh http://127.0.0.1:8080/mcp
set -euo pipefail
cd "$(dirname "$0")/.."
url=${1:?usage: $0 URL-of-/mcp}
bash scripts/setup-mcp-tools.sh
baseline=$PWD/tests/mcp/conformance/baseline.yml
cd .sandbox/mcp-conformance
./node_modules/.bin/conformance server --url "$url" --expected-failures "$baseline"
