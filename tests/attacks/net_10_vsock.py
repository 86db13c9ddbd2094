# attack: AF_VSOCK, which no network namespace confines: on a VM host it talks to the hypervisor (CID 2). Only socket/bind/listen, never connect.
# category: net
# expect: status=200 result="contained"
import socket

VMADDR_CID_ANY = VMADDR_PORT_ANY = 0xFFFFFFFF


def main():
    breaches = []
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM, socket.SOCK_SEQPACKET):
        try:
            s = socket.socket(socket.AF_VSOCK, kind)
        except OSError:
            continue
        breaches.append("AF_VSOCK socket type %d was created" % kind)
        try:
            # A listener is reachable from the hypervisor side; it sends nothing itself.
            s.bind((VMADDR_CID_ANY, VMADDR_PORT_ANY))
            s.listen(1)
            breaches.append("AF_VSOCK type %d listening at %r" % (kind, s.getsockname()))
        except OSError as e:
            breaches.append("(bind/listen of type %d: %s)" % (kind, e))
        s.close()
    return breaches or "contained"
