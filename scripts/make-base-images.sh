#!/usr/bin/env bash
# Builds local stand-ins for the base images that Dockerfile and Dockerfile.prod start FROM, for a
# machine that runs podman but cannot pull from Docker Hub. The Dockerfiles stay standard: with
# Docker (or podman) and a registry, nobody needs this script.
#
#   debian:X-slim      -> `mmdebstrap --variant=minbase bookworm`, imported as localhost/debian:X-slim
#   rust:V-bookworm    -> the same Debian base plus gcc, libc6-dev, pkg-config, git, curl and
#                         ca-certificates (the parts of the official image the builds use), and this
#                         machine's rustup toolchain V copied to /usr/local/rust (bin/ on PATH),
#                         imported as localhost/rust:V-bookworm
#
# The tags are read from the Dockerfiles' FROM lines, so they follow a version bump. The script is
# idempotent: an image that already exists is left alone (FORCE=1 rebuilds both). A build that fails
# leaves no tag behind.
#
# Machine-specific parts, which is why they live here and not in the Dockerfiles:
# - Outbound HTTPS goes through a TLS proxy whose CA is only in this host's trust store. The CAs in
#   /usr/local/share/ca-certificates are copied into the rust stand-in before ca-certificates is
#   installed, so that cargo can fetch crates. (The debian stand-in gets them at build time instead:
#   see the build line below.)
# - The Rust toolchain comes from this host's rustup (rustup which --toolchain V rustc), as it cannot
#   be downloaded into the image here; the script refuses a toolchain whose rustc is not version V.
#
# Needs: root, podman, mmdebstrap (apt-get install -y podman runc mmdebstrap), and rustup with
# toolchain V. Took 3 minutes here (2 cores shared with other jobs). Then
# build and run as the README's Docker section says, e.g.:
#   podman --runtime runc build --network=host \
#     -v /usr/local/share/ca-certificates:/usr/local/share/ca-certificates:ro \
#     -v /etc/pip.conf:/etc/pip.conf:ro -f Dockerfile.prod -t python-script-api:prod .
# (--runtime runc: crun 1.8 refuses this host's hybrid cgroup layout. Do not mount /etc/ssl/certs
# itself: it breaks the ca-certificates package's postinst. Where the shell lacks
# CAP_SYS_RESOURCE, podman's default rlimits cannot be set: put `[containers]` and
# `default_ulimits = []` in /etc/containers/containers.conf.)
#
# Usage: scripts/make-base-images.sh          FORCE=1 scripts/make-base-images.sh to rebuild
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

log() { printf 'make-base-images: %s\n' "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

[ "$(id -u)" = 0 ] || die "run as root (mmdebstrap and podman import need it)"
for tool in podman mmdebstrap; do
  command -v "$tool" >/dev/null || die "$tool is missing (apt-get install -y podman runc mmdebstrap)"
done

# The FROM images, as the Dockerfiles spell them (first match of each).
from_image() { # from_image REPO FILE: print REPO:TAG from the first `FROM REPO:TAG` line of FILE
  sed -n -E "s/^FROM[[:space:]]+($1:[^[:space:]]+).*/\\1/p" "$2" | head -n1
}
debian_ref=$(from_image debian Dockerfile.prod)
rust_ref=$(from_image rust Dockerfile.prod)
[ -n "$debian_ref" ] || die "no FROM debian:... line in Dockerfile.prod"
[ -n "$rust_ref" ] || die "no FROM rust:... line in Dockerfile.prod"
dev_rust_ref=$(from_image rust Dockerfile)
[ "$dev_rust_ref" = "$rust_ref" ] ||
  die "Dockerfile uses $dev_rust_ref but Dockerfile.prod uses $rust_ref; make them agree first"

rust_version=${rust_ref#rust:}
rust_version=${rust_version%%-*} # rust:1.95.0-bookworm -> 1.95.0
suite=${rust_ref##*-}            # -> bookworm
case $suite in bookworm) ;; *) die "unexpected Debian suite '$suite' in $rust_ref" ;; esac

work=$(mktemp -d /var/tmp/make-base-images.XXXXXX)
trap 'rm -rf "$work"' EXIT

exists() { podman image exists "localhost/$1"; }

# import ROOTFS_TAR NAME [--change ...]: import without a name, then tag the new image's id, so that
# a failed import never leaves a half-made image under the real name.
import() {
  local tar=$1 name=$2 id
  shift 2
  id=$(podman import --quiet "$@" "$tar")
  podman tag "$id" "localhost/$name"
  log "built localhost/$name ($(podman image inspect --format '{{.Size}}' "localhost/$name" | numfmt --to=si)B)"
}

# The hooks are shell code that mmdebstrap runs with the new root as $1: single quotes on purpose.
# shellcheck disable=SC2016
common_mmdebstrap=(--variant=minbase --quiet --aptopt='Acquire::Retries "3"'
  # Keep the image small, as the slim image does: no apt lists, no docs or man pages.
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*'
  --dpkgopt='path-include=/usr/share/doc/*/copyright'
  --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*')

if [ "${FORCE:-0}" != 1 ] && exists "$debian_ref"; then
  log "localhost/$debian_ref exists; leaving it (FORCE=1 to rebuild)"
else
  log "building localhost/$debian_ref from Debian $suite (mmdebstrap --variant=minbase)"
  mmdebstrap "${common_mmdebstrap[@]}" "$suite" "$work/debian.tar"
  import "$work/debian.tar" "$debian_ref" \
    --change 'CMD ["bash"]' --change 'LABEL org.opencontainers.image.description=local-stand-in'
fi

if [ "${FORCE:-0}" != 1 ] && exists "$rust_ref"; then
  log "localhost/$rust_ref exists; leaving it (FORCE=1 to rebuild)"
else
  rustc_path=$(rustup which --toolchain "$rust_version" rustc 2>/dev/null) ||
    die "rustup has no toolchain $rust_version (rustup toolchain install $rust_version)"
  toolchain=$(readlink -f "$(dirname "$rustc_path")/..")
  got=$("$toolchain/bin/rustc" --version | cut -d' ' -f2)
  [ "$got" = "$rust_version" ] || die "$toolchain has rustc $got, not $rust_version"
  log "building localhost/$rust_ref: Debian $suite + build tools + $toolchain"
  mkdir -p "$work/ca"
  cp /usr/local/share/ca-certificates/*.crt "$work/ca/" 2>/dev/null || true
  # Hooks run on the host with the new root as $1. The CAs go in before ca-certificates is
  # installed, so its postinst adds them to the bundle. Docs and rust-src are left out of the copy.
  mmdebstrap "${common_mmdebstrap[@]}" \
    --include=gcc,libc6-dev,pkg-config,ca-certificates,curl,git,xz-utils \
    --essential-hook="mkdir -p \"\$1/usr/local/share/ca-certificates\" && cp $work/ca/. \"\$1/usr/local/share/ca-certificates/\" -r" \
    --customize-hook="mkdir -p \"\$1/usr/local/rust\" \"\$1/usr/local/cargo\" && tar -C $toolchain --exclude=./share/doc --exclude=./lib/rustlib/src -c . | tar -C \"\$1/usr/local/rust\" -x" \
    "$suite" "$work/rust.tar"
  # As in the official image: CARGO_HOME is /usr/local/cargo, and the tools are on PATH.
  import "$work/rust.tar" "$rust_ref" \
    --change 'ENV CARGO_HOME=/usr/local/cargo' \
    --change 'ENV PATH=/usr/local/cargo/bin:/usr/local/rust/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["bash"]' --change 'LABEL org.opencontainers.image.description=local-stand-in'
fi

podman --runtime runc run --rm --network=none "localhost/$rust_ref" cargo --version >/dev/null ||
  die "cargo does not run in localhost/$rust_ref"
log "ready: localhost/$debian_ref localhost/$rust_ref"
