# attack: exhaust file descriptors (files, pipes, sockets, eventfds) and try to raise RLIMIT_NOFILE past its hard limit
# category: exhaust
# expect: status=200 result="contained"
import errno
import os
import resource
import socket


def main():
    breaches = []
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard > 256:
        breaches.append("RLIMIT_NOFILE hard limit is %d" % hard)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (1 << 20, 1 << 20))
        breaches.append("raised RLIMIT_NOFILE to %r" % (resource.getrlimit(resource.RLIMIT_NOFILE),))
    except (ValueError, OSError):
        pass
    held = []
    stop = None
    for i in range(100_000):
        try:
            kind = i % 4
            if kind == 0:
                held.append(os.open("/dev/null", os.O_RDONLY))
            elif kind == 1:
                held.extend(os.pipe())
            elif kind == 2:
                held.append(socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).detach())
            else:
                held.append(os.eventfd(0))
        except OSError as e:
            stop = e
            break
    if stop is None or stop.errno not in (errno.EMFILE, errno.ENFILE):
        breaches.append("stopped by %r after %d fds" % (stop, len(held)))
    if len(held) > 256:
        breaches.append("held %d fds" % len(held))
    for fd in held:
        os.close(fd)
    return breaches or "contained"
