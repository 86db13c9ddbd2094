# Development image: the full Rust toolchain, the release binary built from this tree, and the
# sandbox (nsjail + the Python venv) installed by scripts/setup-sandbox.sh, the same recipe as
# `make run`. For a small production image see Dockerfile.prod.
#
#   docker compose up --build        (not privileged: docker-compose.yml grants only what nsjail needs)
#
# The tag pins the toolchain to the one the project is built and tested with.
FROM rust:1.95.0-bookworm

WORKDIR /app

# The sandbox first: it changes least, so its layer stays cached across source edits.
# setup-sandbox.sh apt-installs Debian's python3.11 and python3.11-venv when they are missing.
# It also builds the jail's root filesystem (/opt/sandbox/root) from chroot/, with the interpreters
# of SANDBOX_LANGUAGES (Debian's nodejs, r-base-core and r-cran-jsonlite, bash; README, Languages):
# `--build-arg SANDBOX_LANGUAGES=python` leaves the others out of the image.
ARG SANDBOX_LANGUAGES=python,javascript,r,bash
COPY scripts/setup-sandbox.sh scripts/sandbox-requirements.txt scripts/build-jail-root.py scripts/
COPY chroot/ chroot/
RUN SANDBOX_LANGUAGES="$SANDBOX_LANGUAGES" bash scripts/setup-sandbox.sh /opt/sandbox \
    && rm -rf /var/lib/apt/lists/* /root/.cache

# Dependencies next, built against stub sources so that editing src/ does not rebuild them.
COPY Cargo.toml Cargo.lock ./
RUN mkdir src \
    && echo 'fn main() {}' >src/main.rs \
    && touch src/lib.rs \
    && cargo build --release --locked \
    && rm -rf src

# COPY keeps the sources' old mtimes; touch them so that cargo rebuilds over the stubs.
COPY src/ src/
# The playground's pages and their vendored files, embedded into the binary (src/web.rs).
COPY web/ web/
RUN touch src/main.rs src/lib.rs \
    && cargo build --release --locked \
    && cp target/release/python-script-api /usr/local/bin/python-script-api

COPY configs/ configs/

# HOST: the server's own default is loopback (a developer's machine); a container must listen on
# every interface to be reached through its published port.
ENV HOST=0.0.0.0 \
    PORT=8080 \
    NSJAIL_PATH=/opt/sandbox/nsjail/nsjail/bin/nsjail \
    SANDBOX_VENV=/opt/sandbox/venv \
    SANDBOX_ROOT=/opt/sandbox/root \
    NSJAIL_CONFIG=/app/configs/python.cfg \
    SANDBOX_PROFILE=auto \
    SANDBOX_LANGUAGES=$SANDBOX_LANGUAGES \
    RUST_LOG=info

EXPOSE 8080

# curl ships with the rust image. Through sh so that $PORT is read when the check runs.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["sh", "-c", "curl -fsS --max-time 4 \"http://127.0.0.1:${PORT:-8080}/health\" >/dev/null"]

# Runs as root: nsjail needs it to create the jail's namespaces and map its uid.
# SIGTERM (docker stop) lets running requests finish before the server exits.
STOPSIGNAL SIGTERM
CMD ["/usr/local/bin/python-script-api"]
