#!/usr/bin/env bash
# `make bench`: the benchmark of issue 6, part 1. Installs what is missing (wrk, the sandbox), builds
# the release binary, then runs bench/bench.py, which measures the baselines, starts one release
# server per workload (default settings, 127.0.0.1, a free port in 18300-18399), loads it, and stops
# it by its PID. Writes bench/results/<date>.json and the dated table in bench/README.md.
# Environment: BENCH_PORT (first port to try, 18310), BENCH_QUICK=1 (a few samples: tries the harness),
# BENCH_PROFILE=container (the servers and the jailed baselines under Cloud Run's profile),
# BENCH_ONLY=languages (only issue 18's per-language hello world: printed, not recorded).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
LOG_TAG=bench
# shellcheck source=bench/lib.sh
. bench/lib.sh

prepare
work=bench/.work/bench-$$
mkdir -p "$work"
cgroup=psa-bench-$$
trap 'remove_parent_cgroups "$cgroup"' EXIT
/usr/bin/python3 bench/bench.py --port "${BENCH_PORT:-18310}" --cgroup "$cgroup" --work "$work" \
  ${BENCH_ONLY:+--only "$BENCH_ONLY"}
