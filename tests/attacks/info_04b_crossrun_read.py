# attack: find what the previous run (info_04a) left behind: its /tmp and /dev/shm files, its SysV IPC objects
# category: info
# expect: status=200 result="contained"
import ctypes
import os

libc = ctypes.CDLL(None, use_errno=True)
KEY = 0x50534121


def main():
    breaches = []
    # The runner's own entries (an empty output/, matplotlib's config) are in every run's /tmp.
    for top, own in (("/tmp", [".matplotlib", "output"]), ("/tmp/output", []), ("/dev/shm", [])):
        if sorted(os.listdir(top)) != own:
            breaches.append("%s holds %r" % (top, sorted(os.listdir(top))))
    for name, get in (("shm", lambda: libc.shmget(KEY, 0, 0)), ("msg", lambda: libc.msgget(KEY, 0)),
                      ("sem", lambda: libc.semget(KEY, 0, 0))):
        if get() >= 0:
            breaches.append("the previous run's SysV %s object exists" % name)
    for path in ("/proc/sysvipc/shm", "/proc/sysvipc/msg", "/proc/sysvipc/sem"):
        try:
            rows = open(path).read().splitlines()[1:]
        except OSError:
            continue
        if rows:
            breaches.append("%s lists %d objects" % (path, len(rows)))
    return breaches or "contained"
