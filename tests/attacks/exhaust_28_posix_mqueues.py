# attack: take host root's POSIX message queue budget (RLIMIT_MSGQUEUE, 819200 bytes, charged up to root: 9 default queues starved it): open 64 queues via ctypes, raw syscall too
# category: exhaust
# request: {"timeout": 10}
# expect: status=200 result="contained"
# mq_* are refused by seccomp (ENOSYS), and RLIMIT_MSGQUEUE is 0 besides.
import ctypes
import os
import resource

libc = ctypes.CDLL(None, use_errno=True)
SYS_MQ_OPEN = 240


def main():
    breaches = []
    if resource.getrlimit(resource.RLIMIT_MSGQUEUE) != (0, 0):
        breaches.append("RLIMIT_MSGQUEUE is %r" % (resource.getrlimit(resource.RLIMIT_MSGQUEUE),))
    opened, errors = 0, set()
    for i in range(64):
        name = b"/psa-%d" % i
        fd = libc.mq_open(name, os.O_CREAT | os.O_RDWR, 0o600, None)
        if fd < 0:
            errors.add(ctypes.get_errno())
            fd = libc.syscall(SYS_MQ_OPEN, name[1:], os.O_CREAT | os.O_RDWR, 0o600, None)
            if fd < 0:
                errors.add(ctypes.get_errno())
                continue
        opened += 1
    if opened:
        breaches.append("opened %d message queues" % opened)
    elif errors != {38}:
        breaches.append("refused, but with errno %r instead of ENOSYS" % sorted(errors))
    return breaches or "contained"
