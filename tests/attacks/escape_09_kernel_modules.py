# attack: load or unload kernel modules: init_module with a fake image, finit_module on a file descriptor, delete_module
# category: escape
# expect: status=200 result="contained"
import ctypes
import errno
import os

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
SYS_init_module, SYS_delete_module, SYS_finit_module = 175, 176, 313
O_NONBLOCK = 0o4000


def main():
    breaches = []
    image = ctypes.create_string_buffer(b"\x7fELF" + b"\0" * 4092)
    with open("/tmp/evil.ko", "wb") as f:
        f.write(image.raw)
    fd = os.open("/tmp/evil.ko", os.O_RDONLY)
    attempts = {
        "init_module": (SYS_init_module, ctypes.byref(image), ctypes.c_ulong(len(image.raw)), ctypes.c_char_p(b"")),
        "finit_module": (SYS_finit_module, ctypes.c_long(fd), ctypes.c_char_p(b""), ctypes.c_long(0)),
        "delete_module": (SYS_delete_module, ctypes.c_char_p(b"psa_no_such_module"), ctypes.c_long(O_NONBLOCK)),
    }
    for name, (nr, *args) in attempts.items():
        ctypes.set_errno(0)
        rc = libc.syscall(ctypes.c_long(nr), *args)
        if rc == 0:
            breaches.append(name + " succeeded")
        elif ctypes.get_errno() != errno.EPERM:
            # ENOEXEC, ENOENT and the like mean the kernel looked at the arguments: the call got through.
            breaches.append("%s got past the filter: %s" % (name, errno.errorcode.get(ctypes.get_errno())))
    os.close(fd)
    if os.path.exists("/proc/modules") and "evil" in open("/proc/modules").read():
        breaches.append("the module is listed in /proc/modules")
    return breaches or "contained"
