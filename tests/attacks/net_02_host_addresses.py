# attack: TCP to the host's own addresses (substituted by the test, with a listener it opened) and to common gateway addresses
# category: net
# expect: status=200 result="contained"
import errno
import socket
import time

HOST_ADDRS = @@HOST_ADDRS@@
PORTS = [@@HOST_LISTEN_PORT@@, @@SERVER_PORT@@, 22, 80, 443]
# Never reached: with no interface in the jail there is no route, and connect() must fail before any packet exists.
GATEWAYS = ["10.0.0.1", "172.17.0.1", "192.168.0.1", "192.168.1.1", "10.0.2.2", "100.64.0.1", "fd00::1"]


def main():
    breaches = []
    targets = [(a, p) for a in HOST_ADDRS for p in PORTS] + [(g, 80) for g in GATEWAYS]
    for host, port in targets:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        s = socket.socket(family, socket.SOCK_STREAM)
        s.settimeout(1)
        started = time.monotonic()
        try:
            s.connect((host, port))
            breaches.append("connected to %s port %d" % (host, port))
        except OSError as e:
            # No route (IPv4), or no source address to send from (IPv6): either way nothing was sent.
            if e.errno != errno.ENETUNREACH and not (family == socket.AF_INET6 and e.errno == errno.EADDRNOTAVAIL):
                breaches.append("%s port %d: %r (not ENETUNREACH: a route exists)" % (host, port, e))
        finally:
            s.close()
        if time.monotonic() - started > 0.5:
            breaches.append("%s port %d took %.2f s to fail" % (host, port, time.monotonic() - started))
    return breaches or "contained"
