# attack: setns(2) into the namespaces behind /proc/*/ns and a pidfd, hoping one of them is the host's
# category: escape
# expect: status=200 result="contained"
import ctypes
import errno
import os

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
SYS_pidfd_open = 434
ALL_NS = 0x10000000 | 0x00020000 | 0x20000000 | 0x40000000 | 0x04000000 | 0x08000000 | 0x02000000


def main():
    breaches = []
    tried = 0
    for pid in sorted(p for p in os.listdir("/proc") if p.isdigit() or p == "self"):
        try:
            kinds = os.listdir("/proc/%s/ns" % pid)
        except OSError:
            continue
        for kind in kinds:
            try:
                fd = os.open("/proc/%s/ns/%s" % (pid, kind), os.O_RDONLY)
            except OSError:
                continue
            tried += 1
            ctypes.set_errno(0)
            if libc.setns(fd, 0) == 0:
                breaches.append("setns(/proc/%s/ns/%s) succeeded" % (pid, kind))
            elif ctypes.get_errno() != errno.EPERM:
                breaches.append("setns(%s/%s) got past the filter: %s" % (pid, kind, errno.errorcode.get(ctypes.get_errno())))
            os.close(fd)
    pidfd = libc.syscall(ctypes.c_long(SYS_pidfd_open), ctypes.c_long(1), ctypes.c_long(0))
    if pidfd >= 0:
        if libc.setns(int(pidfd), ALL_NS) == 0:
            breaches.append("setns(pidfd of pid 1, all namespaces) succeeded")
        os.close(pidfd)
    if tried == 0:
        breaches.append("no namespace file could be opened at all (the attack did not run)")
    return breaches or "contained"
