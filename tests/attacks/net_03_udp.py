# attack: UDP: connect() a datagram socket to loopback, the host's addresses, gateways, broadcast and multicast
# category: net
# expect: status=200 result="contained"
import errno
import socket

HOST_ADDRS = @@HOST_ADDRS@@
TARGETS = [("127.0.0.1", 53), ("127.0.0.1", @@SERVER_PORT@@), ("::1", 53), ("10.0.0.1", 53), ("172.17.0.1", 53),
           ("192.168.0.1", 53), ("255.255.255.255", 67), ("224.0.0.251", 5353), ("ff02::1", 547)]
TARGETS += [(a, 53) for a in HOST_ADDRS] + [(a, 161) for a in HOST_ADDRS]


def main():
    breaches = []
    for host, port in TARGETS:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        s = socket.socket(family, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        try:
            # A datagram connect() only looks up a route; it succeeding means a datagram could leave.
            # Nothing is sent either way: these addresses are not all on this machine.
            s.connect((host, port))
            breaches.append("a route to %s port %d exists, from %s" % (host, port, s.getsockname()))
        except OSError as e:
            if e.errno not in (errno.ENETUNREACH, errno.EINVAL, errno.EADDRNOTAVAIL):
                breaches.append("%s port %d: %r" % (host, port, e))
        finally:
            s.close()
    return breaches or "contained"
