# attack: take host root's inotify budget: 200 inotify instances (the host allows 128 per user, and the kernel charges a jail's to root, who owns its user namespace), each watching /tmp
# category: exhaust
# request: {"timeout": 10}
# expect: status=200 result="contained"
# inotify_init and inotify_init1 are refused by seccomp (ENOSYS): not one instance is created.
import ctypes
import os

libc = ctypes.CDLL(None, use_errno=True)
SYS_INOTIFY_INIT = 253


def main():
    made = []
    errors = set()
    for _ in range(200):
        fd = libc.inotify_init1(0)
        if fd < 0:
            errors.add(ctypes.get_errno())
            fd = libc.syscall(SYS_INOTIFY_INIT)
            if fd < 0:
                errors.add(ctypes.get_errno())
                continue
        libc.inotify_add_watch(fd, b"/tmp", 0xFFF)
        made.append(fd)
    for fd in made:
        os.close(fd)
    if made:
        return "created %d inotify instances" % len(made)
    if errors != {38}:
        return "refused, but with errno %r instead of ENOSYS" % sorted(errors)
    return "contained"
