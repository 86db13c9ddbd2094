# attack: pivot_root(2) by raw syscall, to swap the jail's root for a writable one or stack roots
# category: escape
# expect: status=200 result="contained"
import ctypes
import errno
import os

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
SYS_pivot_root = 155


def main():
    breaches = []
    os.makedirs("/tmp/newroot/old", exist_ok=True)
    for new, old in ((b".", b"."), (b"/tmp/newroot", b"/tmp/newroot/old"), (b"/tmp", b"/tmp/newroot"), (b"/", b"/")):
        os.chdir("/tmp")
        ctypes.set_errno(0)
        rc = libc.syscall(ctypes.c_long(SYS_pivot_root), ctypes.c_char_p(new), ctypes.c_char_p(old))
        if rc == 0:
            breaches.append("pivot_root(%s, %s) succeeded" % (new.decode(), old.decode()))
        elif ctypes.get_errno() != errno.EPERM:
            breaches.append("pivot_root(%s, %s) got past the filter: %s" % (new.decode(), old.decode(), errno.errorcode.get(ctypes.get_errno())))
    if sorted(os.listdir("/")) != ["bin", "dev", "etc", "lib", "lib64", "proc", "tmp", "usr", "venv"]:
        breaches.append("root changed: %r" % sorted(os.listdir("/")))
    return breaches or "contained"
