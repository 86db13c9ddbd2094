# attack: ctypes raw syscalls from the deny-list and privileged ones outside it (reboot, swapon, acct, syslog, clocks, iopl, hostname, quotactl, fanotify, personality, pidfd_getfd)
# category: escape
# expect: status=200 result="contained"
import ctypes
import errno
import os
import time

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
L, S = ctypes.c_long, ctypes.c_char_p
LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2, LINUX_REBOOT_CMD_CAD_OFF = 0xFEE1DEAD, 672274793, 0

# Arguments are chosen so that the call is harmless even if it got through: a refusal must come from the filter
# or from a missing capability (EPERM, or ENOSYS for syscalls the kernel dropped), never from argument checks.
CALLS = {
    "reboot(CAD_OFF)": (169, L(LINUX_REBOOT_MAGIC1), L(LINUX_REBOOT_MAGIC2), L(LINUX_REBOOT_CMD_CAD_OFF), None),
    "swapon": (167, S(b"/tmp/no-such-swapfile"), L(0)),
    "swapoff": (168, S(b"/tmp/no-such-swapfile")),
    "acct(NULL)": (163, None),
    "syslog(READ_ALL)": (103, L(3), ctypes.create_string_buffer(4096), L(4096)),
    "settimeofday(NULL,NULL)": (164, None, None),
    "clock_settime(NULL)": (227, L(0), None),
    "adjtimex(NULL)": (159, None),
    "iopl(3)": (172, L(3)),
    "ioperm(0x80)": (173, L(0x80), L(1), L(1)),
    "vhangup": (153,),
    "quotactl(Q_SYNC)": (179, L(0x800001), None, L(0), None),
    "lookup_dcookie": (212, L(0), None, L(0)),
    "fanotify_init": (300, L(0), L(0)),
    "personality(PER_LINUX32)": (135, L(0x0008)),
    "sethostname": (170, S(b"pwned"), L(5)),
    "setdomainname": (171, S(b"pwned"), L(5)),
    "mknod /tmp/mem c 1 1": (133, S(b"/tmp/mem"), L(0o20600), L(os.makedev(1, 1))),
    "kcmp": (312, L(1), L(1), L(0), L(0), L(0)),
}


def main():
    breaches = []
    for name, (nr, *args) in CALLS.items():
        ctypes.set_errno(0)
        rc = libc.syscall(L(nr), *args)
        err = ctypes.get_errno()
        if rc >= 0:
            breaches.append("%s succeeded (%d)" % (name, rc))
        elif err not in (errno.EPERM, errno.ENOSYS):
            breaches.append("%s got past the filter: %s" % (name, errno.errorcode.get(err, err)))
    # pidfd_getfd: steal a file descriptor from another process (here a child: nothing else is visible).
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        time.sleep(5)
        os._exit(0)
    pidfd = libc.syscall(L(434), L(pid), L(0))
    if pidfd >= 0:
        ctypes.set_errno(0)
        stolen = libc.syscall(L(438), L(pidfd), L(r), L(0))
        if stolen >= 0:
            breaches.append("pidfd_getfd stole fd %d" % stolen)
        elif ctypes.get_errno() != errno.EPERM:
            breaches.append("pidfd_getfd got past the filter: %s" % errno.errorcode.get(ctypes.get_errno()))
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    if os.uname().nodename != "sandbox":
        breaches.append("hostname is now %r" % os.uname().nodename)
    return breaches or "contained"
