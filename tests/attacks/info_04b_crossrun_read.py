# attack: find what the previous run (info_04a) left behind: its /tmp and /dev/shm files, its SysV IPC objects
# category: info
# expect: status=200 result="contained"
import ctypes
import os

libc = ctypes.CDLL(None, use_errno=True)
KEY = 0x50534121


def main():
    breaches = []
    # The runner's own entries are in every run's /tmp: an empty output/ and, in a cold run only,
    # matplotlib's config (a forked run's preloaded matplotlib has read its font list already).
    for top, own in (("/tmp", ["output"]), ("/tmp/output", []), ("/dev/shm", [])):
        found = sorted(n for n in os.listdir(top) if not (top == "/tmp" and n == ".matplotlib"))
        if found != own:
            breaches.append("%s holds %r" % (top, sorted(os.listdir(top))))
    if os.path.lexists("/tmp/.matplotlib") and [n for n in os.listdir("/tmp/.matplotlib") if not n.startswith("fontlist-")]:
        breaches.append("/tmp/.matplotlib holds %r" % sorted(os.listdir("/tmp/.matplotlib")))
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
