# attack: look for other inherited descriptors (nsjail's log fd 4, the server's sockets) and write to every fd up to 1023
# category: channel
# expect: status=200 result="contained"
import os
import sys


def main():
    breaches = []
    own = {0, 1, 2, 3}
    if sys.argv == ["<session>"]:
        # A session's cell loop keeps its socket at fd 100, in the same process by design
        # (SECURITY.md, "Sessions"); it is shut down for writing, which the loop below checks.
        own.add(100)
    listed = sorted(int(fd) for fd in os.listdir("/proc/self/fd"))
    for fd in listed:
        if fd in own:
            continue
        try:
            target = os.readlink("/proc/self/fd/%d" % fd)
        except OSError:
            continue  # the descriptor of the listing itself
        breaches.append("fd %d is open: %s" % (fd, target))
    for fd in range(4, 1024):
        try:
            os.write(fd, b"[F] forged nsjail error\n")
            breaches.append("fd %d accepted a write" % fd)
        except OSError:
            pass
    if os.readlink("/proc/self/fd/0") != "/dev/null":
        breaches.append("stdin is " + os.readlink("/proc/self/fd/0"))
    return breaches or "contained"
