#!/usr/bin/env bash
# `make soak-jobs` (issue 16): jobs under load, on the embedded store (one server) then on one
# PostgreSQL shared by two servers, SOAK_SECS each (default 120); then every job is audited (none
# lost, none run twice, each answered its own token) and leftovers are counted. bench/soak_jobs.py
# does the work; this installs what is missing and builds the release binary first.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
LOG_TAG=soak-jobs
# shellcheck source=bench/lib.sh
. bench/lib.sh

prepare
mkdir -p bench/.work
/usr/bin/python3 bench/soak_jobs.py
