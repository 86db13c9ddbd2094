# attack: TCP to the server itself and other loopback services: 127.0.0.1:<server port>, localhost, [::1], 0.0.0.0, 127.0.0.53:53
# category: net
# expect: status=200 result="contained"
import socket
import time

SERVER_PORT = @@SERVER_PORT@@
TARGETS = [("127.0.0.1", SERVER_PORT), ("localhost", SERVER_PORT), ("0.0.0.0", SERVER_PORT), ("::1", SERVER_PORT),
           ("127.0.0.1", 22), ("127.0.0.1", 80), ("127.0.0.53", 53), ("127.0.0.1", 6379), ("127.0.0.1", 5432),
           ("127.1.2.3", SERVER_PORT)]


def main():
    breaches = []
    for host, port in TARGETS:
        started = time.monotonic()
        try:
            s = socket.create_connection((host, port), timeout=1)
            breaches.append("connected to %s:%d from %s" % (host, port, s.getsockname()))
            s.close()
        except OSError:
            pass
        if time.monotonic() - started > 0.5:
            breaches.append("%s:%d did not fail at once (%.2f s): something answered or dropped" % (host, port, time.monotonic() - started))
    return breaches or "contained"
