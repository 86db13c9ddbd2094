# attack: raw clone(2) and clone3(2) with namespace flags, bypassing the libc wrappers that unshare would use
# category: escape
# expect: status=200 result="contained"
import ctypes
import errno
import os

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
SYS_clone, SYS_clone3 = 56, 435
SIGCHLD = 17
FLAGS = {"CLONE_NEWUSER": 0x10000000, "CLONE_NEWNS": 0x00020000, "CLONE_NEWPID": 0x20000000,
         "CLONE_NEWNET": 0x40000000, "CLONE_NEWUTS": 0x04000000, "CLONE_NEWIPC": 0x08000000,
         "CLONE_NEWCGROUP": 0x02000000}


class clone_args(ctypes.Structure):
    _fields_ = [(n, ctypes.c_uint64) for n in ("flags", "pidfd", "child_tid", "parent_tid", "exit_signal",
                                                "stack", "stack_size", "tls", "set_tid", "set_tid_size", "cgroup")]


def main():
    breaches = []
    for name, flag in FLAGS.items():
        ctypes.set_errno(0)
        # No new stack: the child, if there is one, continues here like after fork() and leaves at once.
        pid = libc.syscall(ctypes.c_long(SYS_clone), ctypes.c_ulong(flag | SIGCHLD), None, None, None, None)
        if pid == 0:
            os._exit(0)
        if pid > 0:
            os.waitpid(pid, 0)
            breaches.append("clone(%s) created process %d" % (name, pid))
        elif ctypes.get_errno() != errno.EPERM:
            breaches.append("clone(%s) got past the filter: %s" % (name, errno.errorcode.get(ctypes.get_errno())))
        args = clone_args(flags=flag, exit_signal=SIGCHLD)
        ctypes.set_errno(0)
        pid = libc.syscall(ctypes.c_long(SYS_clone3), ctypes.byref(args), ctypes.c_size_t(ctypes.sizeof(args)))
        if pid == 0:
            os._exit(0)
        if pid > 0:
            os.waitpid(pid, 0)
            breaches.append("clone3(%s) created process %d" % (name, pid))
        elif ctypes.get_errno() not in (errno.ENOSYS, errno.EPERM):
            breaches.append("clone3(%s) got past the filter: %s" % (name, errno.errorcode.get(ctypes.get_errno())))
    # Plain fork must still work: the filter looks at the flags, not at clone itself.
    pid = os.fork()
    if pid == 0:
        os._exit(7)
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 7:
        breaches.append("plain fork broke: %r" % status)
    return breaches or "contained"
