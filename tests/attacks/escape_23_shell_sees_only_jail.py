# attack: os.system and subprocess of sh: it may run, but must see only the jail (ids, /, /etc, processes, hostname, network)
# category: escape
# expect: status=200 result="contained"
import os
import subprocess


def jail_uid():
    """65534 in the jail's user namespace; without one (container profile) the jail's own uid."""
    identity = open("/proc/self/uid_map").read().split() == ["0", "0", "4294967295"]
    return os.getuid() if identity and 60000 <= os.getuid() < 65534 else 65534

SCRIPT = r"""
echo "id=$(id -u):$(id -g):$(id -G)"
echo "root=$(ls -A / | tr '\n' ' ')"
echo "pids=$(ls /proc | grep -E '^[0-9]+$' | tr '\n' ' ')"
echo "host=$(cat /proc/sys/kernel/hostname)"
echo "passwd=$(cat /etc/passwd | tr '\n' '|')"
echo "shadow=$(cat /etc/shadow 2>/dev/null | head -c 20)"
echo "home=$(ls /root /home 2>/dev/null | head -c 50)"
echo "net=$(cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d ' ' | tr '\n' ' ')"
"""


def main():
    uid = jail_uid()
    breaches = []
    rc = os.system("sh -c 'id -u > /tmp/system-out; cat /etc/shadow >> /tmp/system-out 2>/dev/null; true'")
    if open("/tmp/system-out").read() != "%d\n" % uid:
        breaches.append("os.system saw: %r" % open("/tmp/system-out").read()[:200])
    out = subprocess.run(["/bin/sh", "-c", SCRIPT], capture_output=True, text=True, timeout=10).stdout
    seen = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    expect = {
        "id": "%d:65534:65534" % uid,
        "root": "bin dev etc lib lib64 proc tmp usr venv ",
        "host": "sandbox",
        "passwd": "nobody:x:65534:65534:nobody:/tmp:/usr/sbin/nologin|",
        "shadow": "",
        "home": "",
        "net": "lo ",
    }
    for key, want in expect.items():
        if seen.get(key) != want:
            breaches.append("%s: %r" % (key, seen.get(key)))
    # The shell, its subshells and ls: all low pids of the jail's own namespace, pid 1 being the wrapper.
    pids = [int(p) for p in seen.get("pids", "").split()]
    if not pids or pids[0] != 1 or max(pids) > 64:
        breaches.append("pids: %r" % pids)
    return breaches or "contained"
