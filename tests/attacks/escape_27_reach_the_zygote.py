# attack: find the process that made this sandbox (nsjail, or in fork mode the zygote, which is root of the container under the container profile) and any other run: name every pid, signal them, pidfd_open and ptrace them, read /proc, lower the priority of their uids
# In every mode the run is pid 1 of a pid namespace of its own: nothing outside it has a pid here.
# category: escape
# expect: status=200 result="contained"
import ctypes
import os

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
SYS_ptrace, SYS_pidfd_open = 101, 434
PTRACE_ATTACH = 16


def main():
    breaches = []
    if os.getpid() != 1 or os.getppid() != 0:
        breaches.append("pid %d, parent %d: the sandbox's maker is visible" % (os.getpid(), os.getppid()))
    for pid in range(2, 1 << 16):
        try:
            os.kill(pid, 0)
            breaches.append("pid %d can be signalled" % pid)
        except PermissionError:
            breaches.append("pid %d exists" % pid)
        except ProcessLookupError:
            pass
    try:
        os.kill(-1, 0)
        breaches.append("kill(-1) reached a process")
    except ProcessLookupError:
        pass
    for pid in (2, 3, 100, 1000):
        if libc.syscall(SYS_pidfd_open, pid, 0) >= 0:
            breaches.append("pidfd_open(%d)" % pid)
    if libc.syscall(SYS_ptrace, PTRACE_ATTACH, 2, 0, 0) == 0:
        breaches.append("ptrace(2)")
    procs = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
    if procs != [1]:
        breaches.append("/proc shows %r" % procs)
    # who = 0 is the caller's own uid: root itself cannot be named this way.
    for uid in (65534, *range(60000, 60100)):
        if uid == os.getuid():
            continue
        try:
            os.setpriority(os.PRIO_USER, uid, 19)
            breaches.append("setpriority reached processes of uid %d" % uid)
        except OSError:
            pass
    return breaches or "contained"
