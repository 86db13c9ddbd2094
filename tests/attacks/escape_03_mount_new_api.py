# attack: the new mount API by raw syscall numbers: fsopen, fspick, open_tree(OPEN_TREE_CLONE), move_mount, mount_setattr
# category: escape
# expect: status=200 result="contained"
import ctypes
import errno

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
SYS = {"open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433,
       "mount_setattr": 442}
AT_FDCWD = -100
OPEN_TREE_CLONE = 1
MOVE_MOUNT_F_EMPTY_PATH = 4
MOUNT_ATTR_RDONLY = 1


class mount_attr(ctypes.Structure):
    _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64),
                ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]


def call(name, *args):
    ctypes.set_errno(0)
    rc = libc.syscall(ctypes.c_long(SYS[name]), *args)
    return rc, ctypes.get_errno()


def main():
    L = ctypes.c_long
    attr = mount_attr(0, MOUNT_ATTR_RDONLY, 0, 0)
    attempts = {
        "fsopen tmpfs": (call, "fsopen", ctypes.c_char_p(b"tmpfs"), L(0)),
        "fspick /": (call, "fspick", L(AT_FDCWD), ctypes.c_char_p(b"/"), L(0)),
        "open_tree clone /usr": (call, "open_tree", L(AT_FDCWD), ctypes.c_char_p(b"/usr"), L(OPEN_TREE_CLONE)),
        "fsconfig on fd 0": (call, "fsconfig", L(0), L(0), None, None, L(0)),
        "fsmount on fd 0": (call, "fsmount", L(0), L(0), L(0)),
        "move_mount /usr onto /tmp": (call, "move_mount", L(AT_FDCWD), ctypes.c_char_p(b"/usr"), L(AT_FDCWD),
                                      ctypes.c_char_p(b"/tmp"), L(0)),
        "mount_setattr clear RDONLY on /usr": (call, "mount_setattr", L(AT_FDCWD), ctypes.c_char_p(b"/usr"), L(0),
                                               ctypes.byref(attr), L(ctypes.sizeof(attr))),
    }
    breaches = []
    for what, (fn, name, *args) in attempts.items():
        rc, err = fn(name, *args)
        if rc >= 0:
            breaches.append("%s succeeded (%d)" % (what, rc))
        elif err != errno.EPERM:
            breaches.append("%s got past the filter: %s" % (what, errno.errorcode.get(err, err)))
    return breaches or "contained"
