# attack: raw sockets: AF_PACKET, SOCK_RAW for ICMP/TCP/IPPROTO_RAW (v4 and v6), unprivileged ICMP ping sockets
# category: net
# expect: status=200 result="contained"
import socket

ETH_P_ALL = 0x0003


def main():
    breaches = []
    attempts = {
        "AF_PACKET SOCK_RAW": (socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL)),
        "AF_PACKET SOCK_DGRAM": (socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_ALL)),
        "AF_INET SOCK_RAW ICMP": (socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP),
        "AF_INET SOCK_RAW TCP": (socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP),
        "AF_INET SOCK_RAW IPPROTO_RAW": (socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW),
        "AF_INET6 SOCK_RAW ICMPV6": (socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6),
        "AF_INET SOCK_DGRAM ICMP (ping)": (socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP),
        "AF_INET6 SOCK_DGRAM ICMPV6 (ping)": (socket.AF_INET6, socket.SOCK_DGRAM, socket.IPPROTO_ICMPV6),
    }
    for name, args in attempts.items():
        try:
            s = socket.socket(*args)
        except OSError:
            continue
        breaches.append(name + " was created")
        s.close()
    return breaches or "contained"
