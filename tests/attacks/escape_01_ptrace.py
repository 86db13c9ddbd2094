# attack: ptrace another process (ATTACH, SEIZE, TRACEME), peek its memory, process_vm_readv/writev, kcmp
# category: escape
# expect: status=200 result="contained"
import ctypes
import os
import time

libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.restype = ctypes.c_long
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
libc.syscall.restype = ctypes.c_long

PTRACE_TRACEME, PTRACE_PEEKDATA, PTRACE_ATTACH, PTRACE_SEIZE = 0, 2, 16, 0x4206
SYS_process_vm_readv, SYS_process_vm_writev, SYS_kcmp = 310, 311, 312


class iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]


SECRET = ctypes.create_string_buffer(b"secret-of-the-child")


def refused(rc):
    return rc == -1


def main():
    breaches = []
    child = os.fork()
    if child == 0:
        time.sleep(30)
        os._exit(0)
    try:
        for name, req in (("PTRACE_ATTACH", PTRACE_ATTACH), ("PTRACE_SEIZE", PTRACE_SEIZE)):
            for target in (child, 1):
                if not refused(libc.ptrace(req, target, None, None)):
                    breaches.append("%s on pid %d succeeded" % (name, target))
        ctypes.set_errno(0)
        libc.ptrace(PTRACE_PEEKDATA, child, ctypes.addressof(SECRET), None)
        if ctypes.get_errno() == 0:
            breaches.append("PTRACE_PEEKDATA read the child's memory")

        # A grandchild asks to be traced by its parent, then reports through its exit code.
        pid = os.fork()
        if pid == 0:
            os._exit(0 if libc.ptrace(PTRACE_TRACEME, 0, None, None) == 0 else 1)
        _, status = os.waitpid(pid, 0)
        if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
            breaches.append("PTRACE_TRACEME succeeded")

        buf = ctypes.create_string_buffer(32)
        local = iovec(ctypes.cast(buf, ctypes.c_void_p), 19)
        remote = iovec(ctypes.addressof(SECRET), 19)
        rc = libc.syscall(SYS_process_vm_readv, ctypes.c_long(child), ctypes.byref(local), ctypes.c_ulong(1),
                          ctypes.byref(remote), ctypes.c_ulong(1), ctypes.c_ulong(0))
        if rc != -1:
            breaches.append("process_vm_readv read %d bytes: %r" % (rc, buf.raw[:19]))
        rc = libc.syscall(SYS_process_vm_writev, ctypes.c_long(child), ctypes.byref(local), ctypes.c_ulong(1),
                          ctypes.byref(remote), ctypes.c_ulong(1), ctypes.c_ulong(0))
        if rc != -1:
            breaches.append("process_vm_writev wrote %d bytes" % rc)
        rc = libc.syscall(SYS_kcmp, ctypes.c_long(os.getpid()), ctypes.c_long(child), ctypes.c_long(0), 0, 0)
        if rc != -1:
            breaches.append("kcmp answered %d" % rc)
    finally:
        os.kill(child, 9)
        os.waitpid(child, 0)
    return breaches or "contained"
