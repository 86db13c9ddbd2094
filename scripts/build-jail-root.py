#!/usr/bin/env python3
"""Builds the jail's root filesystem from its definition in chroot/ (manifest + etc/).

What lives here: reading chroot/manifest, taking the listed paths from the host (hard links where
the filesystem allows, else copies; symlinks kept), adding the shared-library closure of every ELF
file in the tree and in the venv (ldd), the mount points, chroot/etc/, and swapping the finished tree
into place. Also the stamp that makes a second run a no-op, and the record of what was taken.
What does not: which paths the jail gets (chroot/manifest), how nsjail mounts the tree
(src/sandbox/nsjail.rs, configs/python.cfg), nsjail and the venv (scripts/setup-sandbox.sh, which
calls this). The host's python3 and its standard library only: it runs before any venv exists.

Each language besides Python adds its own manifest, chroot/manifest.LANGUAGE (javascript, r, bash),
when --languages names it: a small image leaves an interpreter out of the tree altogether.

Usage: build-jail-root.py --definition chroot --venv PREFIX/venv --dest PREFIX/root [--languages python,bash]
"""

import argparse
import hashlib
import os
import shutil
import stat
import subprocess
import sys
import tempfile

# Bumped by hand when the layout of the tree changes in a way the hashed inputs do not show.
LAYOUT = "1"
# The languages besides Python, each with a manifest of its own (chroot/manifest.NAME).
LANGUAGES = ("javascript", "r", "bash")


class BuildError(Exception):
    """The tree cannot be built as defined: said to the operator, never half-installed."""


def parse_manifest(text):
    """The manifest's entries, as (kind, path, target) tuples in file order.

    kind is "take", "exclude", "dir", "file", "link" or "put"; target is set for links (where the
    link points) and puts (the definition's file to copy, relative to the definition) only. Paths must be
    absolute and normalised, so that an entry cannot reach outside the tree ("/usr/../etc").
    """
    entries = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        words = line.split()
        if words[0] in ("dir", "file") and len(words) == 2:
            kind, path, target = words[0], words[1], None
        elif words[0] in ("link", "put") and len(words) == 3:
            kind, path, target = words[0], words[1], words[2]
            if kind == "put" and (target.startswith("/") or ".." in target.split("/")):
                raise BuildError("manifest line %d: %r is not a file of the definition" % (number, target))
        elif len(words) == 1 and words[0].startswith("-"):
            kind, path, target = "exclude", words[0][1:], None
        elif len(words) == 1:
            kind, path, target = "take", words[0], None
        else:
            raise BuildError("manifest line %d: cannot read %r" % (number, raw))
        if not path.startswith("/") or os.path.normpath(path) != path or path == "/":
            raise BuildError("manifest line %d: %r is not a normalised absolute path" % (number, path))
        entries.append((kind, path, target))
    return entries


def parse_ldd(output):
    """The libraries ldd resolved, and the names it could not, from its output for one or more files.

    Lines are "name => /path (0x...)", "/path (0x...)" (the loader), "name (0x...)" (the vDSO,
    no file), "name => not found", or "file:" headers when ldd was given several files.
    """
    found, missing = [], []
    for line in output.splitlines():
        line = line.strip()
        if not line or line.endswith(":") or "not a dynamic executable" in line or line.startswith("statically linked"):
            continue
        if "=>" in line:
            name, _, rest = line.partition("=>")
            rest = rest.strip()
            if rest.startswith("not found"):
                missing.append(name.strip())
                continue
            path = rest.split(" (", 1)[0].strip()
        else:
            path = line.split(" (", 1)[0].strip()
        if path.startswith("/"):
            found.append(path)
    return found, missing


def is_excluded(path, excludes):
    return any(path == e or path.startswith(e + "/") for e in excludes)


def canonical(path):
    """The host path with its directories' symlinks resolved (/lib/x/libc.so.6 -> /usr/lib/x/libc.so.6),
    the last component kept as it is, so that a symlink stays a symlink."""
    return os.path.join(os.path.realpath(os.path.dirname(path)), os.path.basename(path))


def is_elf(path):
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"\x7fELF"
    except OSError:
        return False


class Tree:
    """The tree being built under `root`, and what went into it (host path -> how)."""

    def __init__(self, root, excludes):
        self.root = root
        self.excludes = excludes
        self.taken = {}

    def dest(self, path):
        return os.path.join(self.root, path.lstrip("/"))

    def make_parents(self, path):
        parent = os.path.dirname(self.dest(path))
        os.makedirs(parent, mode=0o755, exist_ok=True)

    def take(self, path, required=True):
        """Copies a host path into the tree: files, symlinks (and what they point to), directories."""
        path = canonical(path)
        if path in self.taken or is_excluded(path, self.excludes):
            return
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            if required:
                raise BuildError("%s is listed in the manifest but the host does not have it" % path) from None
            return
        if stat.S_ISLNK(st.st_mode):
            real = os.path.realpath(path)
            if not os.path.exists(real):
                if not required:
                    return  # a dangling link under a listed directory: nothing to point to
                raise BuildError("%s is a symlink to %s, which does not exist" % (path, real))
            self.taken[path] = "symlink"
            self.make_parents(path)
            os.symlink(os.path.relpath(real, os.path.dirname(path)), self.dest(path))
            self.take(real)
        elif stat.S_ISDIR(st.st_mode):
            self.taken[path] = "dir"
            os.makedirs(self.dest(path), mode=0o755, exist_ok=True)
            for name in sorted(os.listdir(path)):
                self.take(os.path.join(path, name), required=False)
        elif stat.S_ISREG(st.st_mode):
            self.make_parents(path)
            self.taken[path] = self.place_file(path, st)
        # Devices, FIFOs and sockets under a listed directory are never taken.

    def place_file(self, path, st):
        """A hard link when the host file may be shared as it is (world-readable, no setuid or
        setgid bit, same filesystem), else a copy whose mode is fixed. Never a chmod of a link: it
        would change the host's own file."""
        mode = stat.S_IMODE(st.st_mode)
        fixed = (mode & ~(stat.S_ISUID | stat.S_ISGID | stat.S_ISVTX)) | stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH
        if mode & stat.S_IXUSR:
            fixed |= stat.S_IXGRP | stat.S_IXOTH
        if fixed == mode and st.st_uid == 0:
            try:
                os.link(path, self.dest(path))
                return "link"
            except OSError:
                pass  # another filesystem, or links refused: copy
        shutil.copyfile(path, self.dest(path), follow_symlinks=False)
        os.chmod(self.dest(path), fixed)
        return "copy"


def elf_files(top, skip_links=True):
    for base, dirs, files in os.walk(top):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(base, name)
            if (not skip_links or not os.path.islink(path)) and os.path.isfile(path) and is_elf(path):
                yield path


def shared_libraries(elves, venv):
    """Every library the ELF files need (ldd, resolved on the host), except the venv's own
    (numpy.libs and the like, found through RPATH $ORIGIN: the venv is mounted at /venv as it is)."""
    libs, missing = set(), set()
    elves = list(elves)
    for i in range(0, len(elves), 200):
        batch = elves[i : i + 200]
        # ldd exits 1 when one of several files is not dynamic; the output still says everything.
        out = subprocess.run(["ldd", *batch], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout
        found, absent = parse_ldd(out)
        libs.update(found)
        missing.update(absent)
    venv_real = os.path.realpath(venv)
    libs = {p for p in libs if not os.path.realpath(p).startswith(venv_real + "/")}
    # A wheel's bundled library, given to ldd alone, may not find its siblings (no RPATH of its
    # own); the extension module that loads it does, through its RPATH. Only a name the venv does
    # not have is missing.
    bundled = {name for _, _, files in os.walk(venv) for name in files}
    return sorted(libs), sorted(missing - bundled)


def dpkg_owners():
    """host path (merged-/usr canonical) -> "package=version", from dpkg's own lists."""
    info = "/var/lib/dpkg/info"
    versions = {}
    try:
        out = subprocess.run(["dpkg-query", "-W", "-f", "${Package}\t${Version}\n"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout
    except OSError:
        return {}
    for line in out.splitlines():
        name, _, version = line.partition("\t")
        versions[name] = version
    owners = {}
    for entry in sorted(os.listdir(info)) if os.path.isdir(info) else []:
        if not entry.endswith(".list"):
            continue
        package = entry[: -len(".list")].split(":", 1)[0]
        with open(os.path.join(info, entry), encoding="utf-8", errors="replace") as f:
            for line in f:
                path = line.rstrip("\n")
                if path.startswith("/"):
                    owners.setdefault(canonical(path), "%s=%s" % (package, versions.get(package, "?")))
    return owners


def manifests(definition, languages):
    """The manifest files the tree is built from: the base one, then each language's."""
    return [os.path.join(definition, "manifest")] + [
        os.path.join(definition, "manifest.%s" % name) for name in LANGUAGES if name in languages
    ]


def parse_languages(value):
    names = [n.strip() for n in value.split(",") if n.strip()]
    unknown = [n for n in names if n != "python" and n not in LANGUAGES]
    if unknown:
        raise BuildError("unknown languages %s (known: python, %s)" % (", ".join(unknown), ", ".join(LANGUAGES)))
    return frozenset(names)


def stamp(definition, venv, languages):
    """What the tree is built from: the definition, this builder, the venv's packages (their ELF
    files add libraries) and the host's Debian packages (where every file comes from)."""
    h = hashlib.sha256(LAYOUT.encode())
    h.update(",".join(sorted(languages)).encode() + b"\0")
    inputs = [*manifests(definition, languages), os.path.abspath(__file__), os.path.join(venv, ".installed")]
    etc = os.path.join(definition, "etc")
    inputs += [os.path.join(etc, n) for n in sorted(os.listdir(etc))]
    for manifest in manifests(definition, languages):
        with open(manifest, encoding="utf-8") as f:
            inputs += [os.path.join(definition, t) for kind, _, t in parse_manifest(f.read()) if kind == "put"]
    for path in inputs:
        h.update(path.encode() + b"\0")
        with open(path, "rb") as f:
            h.update(f.read())
    try:
        packages = subprocess.run(["dpkg-query", "-W", "-f", "${Package} ${Version} ${Status}\n"],
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout
    except OSError:
        raise BuildError("dpkg-query is missing: the jail's root is built from a Debian host's packages") from None
    h.update(packages)
    return h.hexdigest()


def build(definition, venv, tree_root, languages):
    entries = []
    for path in manifests(definition, languages):
        with open(path, encoding="utf-8") as f:
            try:
                entries += parse_manifest(f.read())
            except BuildError as e:
                raise BuildError("%s: %s" % (os.path.basename(path), e)) from None
    excludes = [p for kind, p, _ in entries if kind == "exclude"]
    tree = Tree(tree_root, excludes)
    os.chmod(tree_root, 0o755)
    for kind, path, _ in entries:
        if kind == "take":
            tree.take(path)
    libs, missing = shared_libraries([*elf_files(tree_root), *elf_files(venv)], venv)
    if missing:
        raise BuildError("ldd cannot resolve %s on this host" % ", ".join(missing))
    for lib in libs:
        tree.take(lib)
    for kind, path, target in entries:
        if kind == "dir":
            os.makedirs(tree.dest(path), mode=0o755, exist_ok=True)
        elif kind == "file":
            tree.make_parents(path)
            with open(tree.dest(path), "w"):
                pass
            os.chmod(tree.dest(path), 0o444)
        elif kind == "put":
            # A file of the definition itself, where the host's would bring more than the jail needs.
            tree.make_parents(path)
            shutil.copyfile(os.path.join(definition, target), tree.dest(path))
            os.chmod(tree.dest(path), 0o444)
        elif kind == "link":
            tree.make_parents(path)
            if os.path.lexists(tree.dest(path)):
                # Only on a host without merged /usr, where /lib/x86_64-linux-gnu is a real directory.
                raise BuildError("%s is both taken from the host and a link in the manifest: the builder "
                                 "needs a merged-/usr host (/bin -> usr/bin), as Debian 12 is" % path)
            os.symlink(target, tree.dest(path))
    etc_src, etc_dest = os.path.join(definition, "etc"), tree.dest("/etc")
    os.makedirs(etc_dest, mode=0o755, exist_ok=True)
    for name in sorted(os.listdir(etc_src)):
        shutil.copyfile(os.path.join(etc_src, name), os.path.join(etc_dest, name))
        os.chmod(os.path.join(etc_dest, name), 0o444)
    # Every directory the builder made: root's, world-readable, whatever the umask was.
    for base, dirs, _ in os.walk(tree_root):
        for d in dirs:
            p = os.path.join(base, d)
            if not os.path.islink(p):
                os.chmod(p, 0o755)
    return tree.taken


def record(taken, path, digest):
    owners = dpkg_owners()
    lines = ["# The jail's root, built by scripts/build-jail-root.py from chroot/. stamp %s" % digest,
             "# host path<TAB>how (link: hard link, copy, symlink, dir)<TAB>Debian package=version"]
    for host_path in sorted(taken):
        lines.append("%s\t%s\t%s" % (host_path, taken[host_path], owners.get(host_path, "-")))
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def recorded_stamp(path):
    try:
        with open(path, encoding="utf-8") as f:
            return f.readline().rsplit(" ", 1)[-1].strip()
    except OSError:
        return None


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--definition", required=True, help="the chroot/ directory: manifest and etc/")
    parser.add_argument("--venv", required=True, help="the sandbox venv, whose ELF files need libraries too")
    parser.add_argument("--dest", required=True, help="where the tree goes, e.g. /opt/python-script-api/root")
    parser.add_argument("--languages", default="python,javascript,r,bash",
                        help="the languages whose interpreters the tree holds (SANDBOX_LANGUAGES)")
    args = parser.parse_args(argv)
    languages = parse_languages(args.languages)
    dest = os.path.abspath(args.dest)
    # Beside the tree, not in it: the jail's / lists only what the manifest defines.
    manifest_record = dest + ".manifest"
    digest = stamp(args.definition, args.venv, languages)
    if os.path.isdir(dest) and recorded_stamp(manifest_record) == digest:
        return 0
    parent = os.path.dirname(dest)
    base = os.path.basename(dest)
    for stale in os.listdir(parent):
        if stale.startswith(".%s.new-" % base) or stale.startswith(".%s.old-" % base):
            shutil.rmtree(os.path.join(parent, stale), ignore_errors=True)
    print("build-jail-root: building %s" % dest, file=sys.stderr)
    new = tempfile.mkdtemp(prefix=".%s.new-" % base, dir=parent)
    try:
        taken = build(args.definition, args.venv, new, languages)
    except BaseException:
        shutil.rmtree(new, ignore_errors=True)
        raise
    # Swap: the old tree moves aside, the new one takes its name, the old one goes. The record, the
    # stamp's carrier, is written last: a build cut short is rebuilt by the next run.
    old = None
    if os.path.lexists(dest):
        old = tempfile.mkdtemp(prefix=".%s.old-" % base, dir=parent)
        os.rename(dest, os.path.join(old, base))
    os.rename(new, dest)
    if old:
        shutil.rmtree(old, ignore_errors=True)
    record(taken, manifest_record, digest)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except BuildError as e:
        print("build-jail-root: error: %s" % e, file=sys.stderr)
        sys.exit(1)
