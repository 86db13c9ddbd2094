# attack: DNS: resolve public and cloud-internal names, read resolv.conf, connect straight to the host's nameservers (substituted by the test)
# category: net
# expect: status=200 result="contained"
import socket

NAMESERVERS = @@HOST_NAMESERVERS@@
NAMES = ["example.com", "metadata.google.internal", "kubernetes.default.svc.cluster.local", "github.com",
         "localhost.localdomain"]


def main():
    breaches = []
    for name in NAMES:
        try:
            found = socket.getaddrinfo(name, 80)
            breaches.append("%s resolved to %r" % (name, sorted({f[4][0] for f in found})))
        except OSError:
            pass
    for path in ("/etc/resolv.conf", "/etc/nsswitch.conf", "/run/systemd/resolve/stub-resolv.conf"):
        try:
            open(path).read()
            breaches.append(path + " is readable")
        except OSError:
            pass
    for server in NAMESERVERS + ["127.0.0.53", "127.0.0.11", "169.254.169.254"]:
        for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
            s = socket.socket(socket.AF_INET6 if ":" in server else socket.AF_INET, kind)
            s.settimeout(1)
            try:
                # connect() only: it must fail for want of a route, and nothing is ever sent to these servers.
                s.connect((server, 53))
                breaches.append("%s port 53 is reachable (%s)" % (server, "udp" if kind == socket.SOCK_DGRAM else "tcp"))
            except OSError:
                pass
            finally:
                s.close()
    return breaches or "contained"
