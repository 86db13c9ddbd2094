# attack: find every setuid binary inside the jail (find / -perm -4000) and run them hoping for euid 0; mount/umount/su for real
# category: escape
# expect: status=200 result="contained"
import os
import subprocess
import time


def jail_uid():
    """65534 in the jail's user namespace; without one (container profile) the jail's own uid."""
    identity = open("/proc/self/uid_map").read().split() == ["0", "0", "4294967295"]
    return os.getuid() if identity and 60000 <= os.getuid() < 65534 else 65534


def ids(pid):
    """(uids, gids) of a live process, from /proc."""
    try:
        with open("/proc/%d/status" % pid) as f:
            fields = dict(line.split(":", 1) for line in f if ":" in line)
        return fields["Uid"].split(), fields["Gid"].split()
    except (OSError, KeyError, ValueError):
        return None


def main():
    uid = jail_uid()
    breaches = []
    find = subprocess.run(["find", "/", "-path", "/proc", "-prune", "-o", "-type", "f", "-perm", "-4000", "-print"],
                          capture_output=True, text=True, timeout=20)
    found, seen = [], set()
    for path in find.stdout.split():
        st = os.stat(path)
        if (st.st_dev, st.st_ino) not in seen:
            seen.add((st.st_dev, st.st_ino))
            found.append(path)
    if not found:
        return "contained"  # nothing setuid in reach at all
    mounts = open("/proc/self/mountinfo").read()
    # Each runs with a pipe for stdin, so password prompts wait; its credentials are read while it runs.
    for path in found:
        try:
            p = subprocess.Popen([path], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        except OSError:
            continue  # not executable by nobody
        end = time.monotonic() + 0.25
        while time.monotonic() < end and p.poll() is None:
            got = ids(p.pid)
            if got and ("0" in got[0] or "0" in got[1]):
                breaches.append("%s ran with uids %s gids %s" % (path, got[0], got[1]))
                break
            time.sleep(0.005)
        p.kill()
        p.wait()
    os.makedirs("/tmp/m", exist_ok=True)
    for argv in (["mount", "-t", "tmpfs", "none", "/tmp/m"], ["mount", "--bind", "/tmp", "/usr"],
                 ["umount", "-l", "/proc"], ["umount", "/etc/passwd"],
                 ["su", "-c", "id -u > /tmp/su-out", "root"], ["su", "-c", "id -u > /tmp/su-out"]):
        r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=5)
        if r.returncode == 0:
            breaches.append("%s exited 0: %r" % (" ".join(argv), r.stdout[:200]))
    if open("/proc/self/mountinfo").read() != mounts:
        breaches.append("the mount table changed")
    if os.path.exists("/tmp/su-out"):
        breaches.append("su ran a command: " + open("/tmp/su-out").read())
    if os.geteuid() != uid:
        breaches.append("euid is now %d" % os.geteuid())
    return breaches or "contained"
