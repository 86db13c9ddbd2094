# attack: become reachable: listen on 0.0.0.0 and [::] on a fixed port and on the server's port, then check nothing from outside can possibly route to it
# category: net
# expect: status=200 result="contained"
import socket


def main():
    breaches = []
    for family, host in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
        for port in (@@SERVER_PORT@@, 8080, 0):
            s = socket.socket(family, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((host, port))
                s.listen(1)
            except OSError:
                pass
            s.close()
    # Listening is harmless only while no interface can carry traffic: no interface may be up.
    for line in open("/proc/net/dev").read().splitlines()[2:]:
        name = line.split(":")[0].strip()
        if name != "lo":
            breaches.append("interface %s exists" % name)
    import fcntl
    import struct

    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    flags = struct.unpack_from("16sH", fcntl.ioctl(u, 0x8913, struct.pack("16sH14x", b"lo", 0)))[1]
    if flags & 1:
        breaches.append("lo is up")
    return breaches or "contained"
