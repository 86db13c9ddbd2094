# attack: the classic double-chroot breakout (chroot into a subdir, chdir .. many times, chroot .) and fchdir variant
# category: escape
# expect: status=200 result="contained"
import ctypes
import errno
import os

libc = ctypes.CDLL(None, use_errno=True)
JAIL_ROOT = ["bin", "dev", "etc", "lib", "lib64", "proc", "tmp", "usr", "venv"]


def main():
    breaches = []
    os.makedirs("/tmp/inner/deeper", exist_ok=True)
    keep = os.open("/", os.O_RDONLY)
    for target in (b"/tmp/inner", b"/tmp", b"/", b"/proc/1/root"):
        ctypes.set_errno(0)
        if libc.chroot(target) == 0:
            breaches.append("chroot(%s) succeeded" % target.decode())
        elif ctypes.get_errno() != errno.EPERM:
            breaches.append("chroot(%s) got past the filter: %s" % (target.decode(), errno.errorcode.get(ctypes.get_errno())))
    os.fchdir(keep)
    for _ in range(64):
        os.chdir("..")
    libc.chroot(b".")
    os.chdir("/")
    seen = sorted(os.listdir("/"))
    if seen != JAIL_ROOT:
        breaches.append("the root now shows %r" % seen)
    for host_path in ("/root", "/home", "/etc/shadow", "/work", "/var", "/sys", "/boot"):
        if os.path.lexists(host_path):
            breaches.append(host_path + " is visible")
    os.close(keep)
    return breaches or "contained"
