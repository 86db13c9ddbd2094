# attack: find the host's cgroup tree: /proc/self/cgroup paths, /sys/fs/cgroup, a cgroup mount, the memory limit files
# category: info
# expect: status=200 result="contained"
import ctypes
import os

libc = ctypes.CDLL(None, use_errno=True)


def main():
    breaches = []
    for line in open("/proc/self/cgroup"):
        path = line.strip().split(":", 2)[2]
        if path != "/":
            breaches.append("/proc/self/cgroup shows " + line.strip())
    for path in ("/sys", "/sys/fs/cgroup", "/sys/fs/cgroup/memory", "/proc/1/root/sys"):
        if os.path.lexists(path):
            breaches.append(path + " is visible")
    for line in open("/proc/self/mountinfo"):
        if " - cgroup" in line or " - sysfs" in line:
            breaches.append("mounted: " + line.strip())
    os.makedirs("/tmp/cg", exist_ok=True)
    for fstype in (b"cgroup2", b"cgroup", b"sysfs"):
        if libc.mount(b"none", b"/tmp/cg", fstype, 0, b"memory" if fstype == b"cgroup" else None) == 0:
            breaches.append("mounted " + fstype.decode())
    if os.listdir("/tmp/cg"):
        breaches.append("/tmp/cg holds %r" % os.listdir("/tmp/cg")[:10])
    return breaches or "contained"
