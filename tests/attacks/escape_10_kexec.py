# attack: kexec_load and kexec_file_load (the latter is not in the seccomp deny-list; the capability check must stop it)
# category: escape
# expect: status=200 result="contained"
import ctypes
import errno

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
SYS_kexec_load, SYS_kexec_file_load = 246, 320


def main():
    breaches = []
    L = ctypes.c_long
    for name, nr, args in (("kexec_load", SYS_kexec_load, (L(0), L(0), None, L(0))),
                           ("kexec_file_load", SYS_kexec_file_load, (L(-1), L(-1), L(0), None, L(0)))):
        ctypes.set_errno(0)
        rc = libc.syscall(L(nr), *args)
        err = ctypes.get_errno()
        if rc == 0:
            breaches.append(name + " succeeded")
        elif err not in (errno.EPERM, errno.ENOSYS):
            breaches.append("%s got past the privilege check: %s" % (name, errno.errorcode.get(err, err)))
    return breaches or "contained"
