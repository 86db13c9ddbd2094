# attack: unshare(2) into every kind of new namespace (user first: it would grant all capabilities)
# category: escape
# expect: status=200 result="contained"
import ctypes
import errno
import os

libc = ctypes.CDLL(None, use_errno=True)
FLAGS = {"CLONE_NEWUSER": 0x10000000, "CLONE_NEWNS": 0x00020000, "CLONE_NEWPID": 0x20000000,
         "CLONE_NEWNET": 0x40000000, "CLONE_NEWUTS": 0x04000000, "CLONE_NEWIPC": 0x08000000,
         "CLONE_NEWCGROUP": 0x02000000, "CLONE_NEWTIME": 0x00000080,
         "CLONE_NEWUSER|CLONE_NEWNS": 0x10020000, "CLONE_NEWUSER|CLONE_NEWNET": 0x50000000}


def namespaces():
    found = {}
    for n in sorted(os.listdir("/proc/self/ns")):
        try:
            found[n] = os.readlink("/proc/self/ns/" + n)
        except OSError as e:
            found[n] = "unreadable: %s" % e.strerror
    return found


def main():
    before = namespaces()
    breaches = []
    for name, flag in FLAGS.items():
        ctypes.set_errno(0)
        if libc.unshare(flag) == 0:
            breaches.append("unshare(%s) succeeded" % name)
        elif ctypes.get_errno() != errno.EPERM:
            breaches.append("unshare(%s) got past the filter: %s" % (name, errno.errorcode.get(ctypes.get_errno())))
    after = namespaces()
    if after != before:
        breaches.append("namespaces changed: %r -> %r" % (before, after))
    caps = [l for l in open("/proc/self/status") if l.startswith("CapEff")]
    if caps and caps[0].split()[1].strip("0"):
        breaches.append("capabilities gained: " + caps[0].strip())
    return breaches or "contained"
