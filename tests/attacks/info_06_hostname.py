# attack: learn the host's name: uname, gethostname, /proc/sys/kernel/hostname and domainname, /etc/hosts (the host's real name is substituted by the test)
# category: info
# expect: status=200 result="contained"
import os
import socket

HOST_HOSTNAME = "@@HOST_HOSTNAME@@"


def main():
    breaches = []
    seen = {
        "uname": os.uname().nodename,
        "gethostname": socket.gethostname(),
        "proc": open("/proc/sys/kernel/hostname").read().strip(),
        "getfqdn": socket.getfqdn(),
    }
    for where, name in seen.items():
        if name not in ("sandbox", "localhost"):
            breaches.append("%s says %r" % (where, name))
    texts = {p: open(p).read() for p in ("/etc/hosts", "/proc/sys/kernel/domainname", "/proc/sys/kernel/hostname")}
    if HOST_HOSTNAME and HOST_HOSTNAME != "sandbox":
        for path, text in texts.items():
            if HOST_HOSTNAME in text:
                breaches.append("the host's name is in " + path)
        if any(HOST_HOSTNAME in v for v in seen.values()):
            breaches.append("the host's name is visible: %r" % seen)
    return breaches or "contained"
