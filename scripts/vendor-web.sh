#!/usr/bin/env bash
# The third-party files of the playground (GET /) and the API reference (GET /docs), vendored.
# web/package.json and web/package-lock.json pin each npm package and its integrity hash; this
# script installs exactly that lock (`npm ci --ignore-scripts`, into a temporary folder: no package
# script runs) and copies the few files the pages use into web/vendor/, which is committed, so that
# `cargo build` (which embeds web/ into the binary) needs neither npm nor the network.
#   scripts/vendor-web.sh          refresh web/vendor/ from the lock (after changing a version)
#   scripts/vendor-web.sh --check  fetch the pinned packages again and fail unless every vendored file
#                                  is byte-identical to the package's (scripts/ci-lint.sh runs this)
set -euo pipefail
cd "$(dirname "$0")/.."

# vendored name <- path inside node_modules
files=(
  "codemirror.js node_modules/codemirror/lib/codemirror.js"
  "codemirror.css node_modules/codemirror/lib/codemirror.css"
  "python.js node_modules/codemirror/mode/python/python.js"
  "matchbrackets.js node_modules/codemirror/addon/edit/matchbrackets.js"
  "lint.js node_modules/codemirror/addon/lint/lint.js"
  "lint.css node_modules/codemirror/addon/lint/lint.css"
  "LICENSE.codemirror node_modules/codemirror/LICENSE"
  "swagger-ui-bundle.js node_modules/swagger-ui-dist/swagger-ui-bundle.js"
  "swagger-ui.css node_modules/swagger-ui-dist/swagger-ui.css"
  "LICENSE.swagger-ui-dist node_modules/swagger-ui-dist/LICENSE"
)

log() { printf 'vendor-web: %s\n' "$*" >&2; }

command -v npm >/dev/null || { log "error: npm is missing (apt-get install npm)"; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp web/package.json web/package-lock.json "$work/"
(cd "$work" && npm ci --ignore-scripts --silent --no-audit --no-fund)

mode=${1:-}
failed=0
mkdir -p web/vendor
for entry in "${files[@]}"; do
  name=${entry%% *}
  source=$work/${entry#* }
  [ -f "$source" ] || { log "error: $source is not in the package"; exit 1; }
  if [ "$mode" = --check ]; then
    if ! cmp -s "$source" "web/vendor/$name"; then
      log "web/vendor/$name differs from ${entry#* } of the pinned package: run scripts/vendor-web.sh"
      failed=1
    fi
  else
    cp "$source" "web/vendor/$name"
  fi
done
# Nothing else may sit in web/vendor/: every file there comes from a pinned package.
for f in web/vendor/*; do
  name=${f##*/}
  # grep without -q: with pipefail, -q's early exit could fail printf with SIGPIPE.
  if ! printf '%s\n' "${files[@]}" | grep "^$name " >/dev/null; then
    log "web/vendor/$name is not listed in scripts/vendor-web.sh"
    failed=1
  fi
done
if [ "$mode" = --check ]; then
  [ "$failed" -eq 0 ] && log "web/vendor/ matches the pinned packages (${#files[@]} files)"
fi
exit "$failed"
