# attack: become a child subreaper and adopt orphans, then return while they run (@@MARKER@@), and check no process outside is visible
# category: process
# expect: status=200 result="contained"
import ctypes
import os
import sys

libc = ctypes.CDLL(None, use_errno=True)
PR_SET_CHILD_SUBREAPER = 36


def main():
    breaches = []
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    pid = os.fork()
    if pid == 0:
        if os.fork() == 0:
            os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(120)", "@@MARKER@@"])
        os._exit(0)
    os.waitpid(pid, 0)
    pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
    if len(pids) > 2 or pids[0] != 1:
        breaches.append("visible pids: %r" % pids)
    for p in pids:
        ppid = int(open("/proc/%d/stat" % p).read().rsplit(")", 1)[1].split()[1])
        if ppid not in (0, 1):
            breaches.append("pid %d has parent %d" % (p, ppid))
    return breaches or "contained"
