# attack: io_uring (setup, enter, register) by raw syscall numbers: it bypasses seccomp for the operations it performs
# category: escape
# expect: status=200 result="contained"
import ctypes
import errno

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
SYS_io_uring_setup, SYS_io_uring_enter, SYS_io_uring_register = 425, 426, 427


def main():
    breaches = []
    L = ctypes.c_long
    params = (ctypes.c_uint8 * 120)()
    ctypes.set_errno(0)
    fd = libc.syscall(L(SYS_io_uring_setup), L(8), ctypes.byref(params))
    if fd >= 0:
        breaches.append("io_uring_setup returned fd %d" % fd)
    elif ctypes.get_errno() != errno.EPERM:
        breaches.append("io_uring_setup got past the filter: %s" % errno.errorcode.get(ctypes.get_errno()))
    for name, nr, args in (("io_uring_enter", SYS_io_uring_enter, (L(0), L(1), L(0), L(0), None, L(0))),
                           ("io_uring_register", SYS_io_uring_register, (L(0), L(0), None, L(0)))):
        ctypes.set_errno(0)
        rc = libc.syscall(L(nr), *args)
        if rc >= 0:
            breaches.append("%s succeeded" % name)
        elif ctypes.get_errno() != errno.EPERM:
            # EBADF/EOPNOTSUPP would mean the kernel looked at the fd: the call reached io_uring.
            breaches.append("%s got past the filter: %s" % (name, errno.errorcode.get(ctypes.get_errno())))
    return breaches or "contained"
