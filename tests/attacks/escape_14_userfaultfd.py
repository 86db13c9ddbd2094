# attack: userfaultfd(2) (a favourite for winning kernel races) by raw syscall, and the /dev/userfaultfd device
# category: escape
# expect: status=200 result="contained"
import ctypes
import errno
import os

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
SYS_userfaultfd = 323
O_CLOEXEC, O_NONBLOCK, UFFD_USER_MODE_ONLY = 0o2000000, 0o4000, 1


def main():
    breaches = []
    for flags in (0, O_CLOEXEC | O_NONBLOCK, UFFD_USER_MODE_ONLY):
        ctypes.set_errno(0)
        fd = libc.syscall(ctypes.c_long(SYS_userfaultfd), ctypes.c_long(flags))
        if fd >= 0:
            breaches.append("userfaultfd(%#x) returned fd %d" % (flags, fd))
        elif ctypes.get_errno() != errno.EPERM:
            breaches.append("userfaultfd(%#x) got past the filter: %s" % (flags, errno.errorcode.get(ctypes.get_errno())))
    try:
        fd = os.open("/dev/userfaultfd", os.O_RDWR)
        breaches.append("/dev/userfaultfd opened")
        os.close(fd)
    except OSError:
        pass
    return breaches or "contained"
