# attack: abstract unix sockets (no file, scoped by network namespace): the test's own host listener and every abstract name the host has
# category: net
# expect: status=200 result="contained"
import socket

HOST_NAMES = @@HOST_ABSTRACT_SOCKETS@@
COMMON = ["/tmp/.X11-unix/X0", "/org/freedesktop/systemd1/notify", "containerd-shim", "/containerd-shim/shim.sock"]


def main():
    breaches = []
    for name in HOST_NAMES + COMMON:
        for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM, socket.SOCK_SEQPACKET):
            s = socket.socket(socket.AF_UNIX, kind)
            s.settimeout(1)
            try:
                s.connect("\0" + name)
                breaches.append("connected to @%s" % name)
            except OSError:
                pass
            finally:
                s.close()
    # Nothing but what this run creates is in its namespace's socket table.
    rows = open("/proc/net/unix").read().splitlines()[1:]
    if rows:
        breaches.append("/proc/net/unix lists %d sockets: %r" % (len(rows), rows[:3]))
    return breaches or "contained"
