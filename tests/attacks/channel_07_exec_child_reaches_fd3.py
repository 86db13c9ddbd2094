# attack: an exec'd child tries every way to the result channel: inherited fd 3, /proc/1/fd/3, /proc/<ppid>/fd/3, and a pidfd_getfd
# category: channel
# expect: status=200 result="contained"
import subprocess
import sys

CHILD = r"""
import ctypes, os
reached = []
try:
    os.write(3, b"x"); reached.append("inherited fd 3")
except OSError:
    pass
for path in ("/proc/1/fd/3", "/proc/%d/fd/3" % os.getppid()):
    try:
        fd = os.open(path, os.O_WRONLY); os.write(fd, b"x"); reached.append(path)
    except OSError:
        pass
libc = ctypes.CDLL(None, use_errno=True); libc.syscall.restype = ctypes.c_long
pidfd = libc.syscall(ctypes.c_long(434), ctypes.c_long(1), ctypes.c_long(0))
if pidfd >= 0 and libc.syscall(ctypes.c_long(438), ctypes.c_long(pidfd), ctypes.c_long(3), ctypes.c_long(0)) >= 0:
    reached.append("pidfd_getfd")
print(",".join(reached))
"""


def main():
    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=10)
    if out.returncode != 0:
        return "the child failed: " + out.stderr[-300:]
    return "contained" if not out.stdout.strip() else "the child reached the channel via " + out.stdout.strip()
