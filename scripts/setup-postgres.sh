#!/bin/sh
# Installs Debian's PostgreSQL server for the tests of the shared job store (tests/api/postgres.rs
# starts its own cluster from it, in a temporary directory, on a free port). Idempotent: does
# nothing when a server is installed. The service itself is not started or enabled: the tests
# start the clusters they need. Not needed to run the server with the embedded store (the default).
set -eu
if ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 && id postgres >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "setup-postgres.sh: installing postgresql needs root (apt-get)" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends postgresql >/dev/null
