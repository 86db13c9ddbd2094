# attack: become root: setuid/setresuid/setgid/setgroups/setfsuid to 0, and rewrite /proc/self/uid_map, gid_map, setgroups
# category: escape
# expect: status=200 result="contained"
import ctypes
import os

libc = ctypes.CDLL(None, use_errno=True)


def jail_uid():
    """65534 in the jail's user namespace; without one (container profile) the jail's own uid."""
    identity = open("/proc/self/uid_map").read().split() == ["0", "0", "4294967295"]
    return os.getuid() if identity and 60000 <= os.getuid() < 65534 else 65534


def main():
    uid = jail_uid()
    breaches = []
    for name, call in (("setuid(0)", lambda: os.setuid(0)), ("seteuid(0)", lambda: os.seteuid(0)),
                       ("setresuid(0,0,0)", lambda: os.setresuid(0, 0, 0)), ("setgid(0)", lambda: os.setgid(0)),
                       ("setresgid(0,0,0)", lambda: os.setresgid(0, 0, 0)), ("setgroups([0])", lambda: os.setgroups([0])),
                       ("setreuid(0,0)", lambda: os.setreuid(0, 0))):
        try:
            call()
            breaches.append(name + " succeeded")
        except OSError:
            pass
    libc.setfsuid(0)
    libc.setfsgid(0)
    for path, text in (("/proc/self/uid_map", "0 0 1\n"), ("/proc/self/gid_map", "0 0 1\n"),
                       ("/proc/self/setgroups", "allow\n")):
        try:
            with open(path, "w") as f:
                f.write(text)
            breaches.append("wrote " + path)
        except OSError:
            pass
    status = dict(line.split(":", 1) for line in open("/proc/self/status") if ":" in line)
    for field, want in (("Uid", uid), ("Gid", 65534)):
        values = status[field].split()
        if values != [str(want)] * 4:
            breaches.append("%s is now %s" % (field, values))
    if status["Groups"].split() not in ([], ["65534"]):
        breaches.append("Groups: " + status["Groups"].strip())
    if (os.getuid(), os.geteuid(), os.getgid(), os.getegid()) != (uid, uid, 65534, 65534):
        breaches.append("ids: %r" % ((os.getuid(), os.geteuid(), os.getgid(), os.getegid()),))
    return breaches or "contained"
