# attack: mount(2) and umount2(2): a tmpfs, a bind of /proc, remount / and /usr read-write, detach /proc
# category: escape
# expect: status=200 result="contained"
import ctypes
import errno
import os

libc = ctypes.CDLL(None, use_errno=True)
MS_RDONLY, MS_REMOUNT, MS_BIND, MS_REC = 1, 32, 4096, 16384
MNT_DETACH = 2


def main():
    before = open("/proc/self/mountinfo").read()
    os.makedirs("/tmp/m", exist_ok=True)
    attempts = {
        "tmpfs on /tmp/m": lambda: libc.mount(b"none", b"/tmp/m", b"tmpfs", 0, None),
        "proc on /tmp/m": lambda: libc.mount(b"proc", b"/tmp/m", b"proc", 0, None),
        "bind / on /tmp/m": lambda: libc.mount(b"/", b"/tmp/m", None, MS_BIND | MS_REC, None),
        "remount / rw": lambda: libc.mount(None, b"/", None, MS_REMOUNT | MS_BIND, None),
        "remount /usr rw": lambda: libc.mount(None, b"/usr", None, MS_REMOUNT | MS_BIND, None),
        "remount /proc rw": lambda: libc.mount(None, b"/proc", None, MS_REMOUNT, None),
        "devtmpfs on /tmp/m": lambda: libc.mount(b"devtmpfs", b"/tmp/m", b"devtmpfs", 0, None),
        "cgroup on /tmp/m": lambda: libc.mount(b"cgroup", b"/tmp/m", b"cgroup2", 0, None),
        "umount2 /proc": lambda: libc.umount2(b"/proc", MNT_DETACH),
        "umount2 /usr": lambda: libc.umount2(b"/usr", 0),
        "umount2 /etc/passwd": lambda: libc.umount2(b"/etc/passwd", MNT_DETACH),
    }
    breaches = []
    for name, call in attempts.items():
        ctypes.set_errno(0)
        rc = call()
        err = ctypes.get_errno()
        if rc == 0:
            breaches.append(name + " succeeded")
        elif err != errno.EPERM:
            breaches.append("%s got past the filter: %s" % (name, errno.errorcode.get(err, err)))
    if open("/proc/self/mountinfo").read() != before:
        breaches.append("the mount table changed")
    return breaches or "contained"
