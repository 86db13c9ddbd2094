# attack: rtnetlink: dump links and addresses (only a down lo may exist), then try to bring lo up, add an address and a route
# category: net
# expect: status=200 result="contained"
import errno
import fcntl
import socket
import struct

NLMSG_ERROR, NLMSG_DONE = 2, 3
RTM_NEWLINK, RTM_GETLINK, RTM_NEWADDR, RTM_GETADDR, RTM_NEWROUTE = 16, 18, 20, 22, 24
NLM_F_REQUEST, NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL, NLM_F_DUMP = 1, 4, 0x400, 0x200, 0x300
IFLA_IFNAME, IFA_LOCAL, IFA_ADDRESS, RTA_GATEWAY = 3, 2, 1, 5
IFF_UP = 1
SIOCSIFFLAGS, SIOCGIFFLAGS = 0x8914, 0x8913


def request(sock, msg_type, flags, payload, seq):
    sock.send(struct.pack("=IHHII", 16 + len(payload), msg_type, flags, seq, 0) + payload)
    messages = []
    while True:
        data = sock.recv(65536)
        offset = 0
        while offset < len(data):
            length, kind, _, _, _ = struct.unpack_from("=IHHII", data, offset)
            body = data[offset + 16:offset + length]
            if kind == NLMSG_DONE:
                return messages
            if kind == NLMSG_ERROR:
                return [("error", struct.unpack_from("=i", body)[0])]
            messages.append((kind, body))
            offset += (length + 3) & ~3
        if not flags & NLM_F_DUMP:
            return messages


def attrs(body, start):
    found = {}
    while start + 4 <= len(body):
        length, kind = struct.unpack_from("=HH", body, start)
        if length < 4:
            break
        found[kind] = body[start + 4:start + length]
        start += (length + 3) & ~3
    return found


def main():
    breaches = []
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
    s.settimeout(2)
    links = request(s, RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, struct.pack("=BxHiII", 0, 0, 0, 0, 0), 1)
    names = []
    lo_index = None
    for kind, body in links:
        if kind != RTM_NEWLINK:
            breaches.append("link dump answered %r" % ((kind, body),))
            continue
        _, _, index, flags, _ = struct.unpack_from("=BxHiII", body)
        name = attrs(body, 16).get(IFLA_IFNAME, b"?").rstrip(b"\0").decode()
        names.append(name)
        if name == "lo":
            lo_index = index
        if flags & IFF_UP:
            breaches.append("%s is up" % name)
    if names != ["lo"]:
        breaches.append("interfaces: %r" % names)
    for kind, body in request(s, RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, struct.pack("=BBBBI", 0, 0, 0, 0, 0), 2):
        if kind == RTM_NEWADDR:
            a = attrs(body, 8)
            breaches.append("address on index %d: %r" % (struct.unpack_from("=I", body, 4)[0], a.get(IFA_LOCAL, a.get(IFA_ADDRESS))))
    if lo_index is not None:
        up = struct.pack("=BxHiII", 0, 0, lo_index, IFF_UP, IFF_UP)
        answer = request(s, RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, up, 3)
        if answer != [("error", -errno.EPERM)]:
            breaches.append("RTM_NEWLINK lo up answered %r" % (answer,))
        address = struct.pack("=BBBBI", socket.AF_INET, 8, 0, 0, lo_index)
        address += struct.pack("=HH4s", 8, IFA_LOCAL, socket.inet_aton("10.9.9.9"))
        answer = request(s, RTM_NEWADDR, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, address, 4)
        if answer != [("error", -errno.EPERM)]:
            breaches.append("RTM_NEWADDR answered %r" % (answer,))
    route = struct.pack("=BBBBBBBBI", socket.AF_INET, 0, 0, 0, 254, 3, 0, 1, 0)
    route += struct.pack("=HH4s", 8, RTA_GATEWAY, socket.inet_aton("10.0.0.1"))
    answer = request(s, RTM_NEWROUTE, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE, route, 5)
    if not answer or answer[0][0] != "error" or answer[0][1] == 0:
        breaches.append("RTM_NEWROUTE answered %r" % (answer,))
    s.close()
    # The ioctl way.
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        fcntl.ioctl(u, SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", IFF_UP))
        breaches.append("SIOCSIFFLAGS brought lo up")
    except OSError:
        pass
    flags = struct.unpack_from("16sH", fcntl.ioctl(u, SIOCGIFFLAGS, struct.pack("16sH14x", b"lo", 0)))[1]
    if flags & IFF_UP:
        breaches.append("lo is up after the attempts")
    if [n for _, n in socket.if_nameindex()] != ["lo"]:
        breaches.append("if_nameindex: %r" % socket.if_nameindex())
    return breaches or "contained"
