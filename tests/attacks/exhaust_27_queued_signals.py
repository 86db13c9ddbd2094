# attack: take the host's queued-signal budget (RLIMIT_SIGPENDING, charged up to host root): block SIGRTMIN and send it to itself 120 000 times, then create POSIX timers (each preallocates a queued signal), then try to raise the limit
# category: exhaust
# request: {"timeout": 20}
# expect: status=200 result="contained"
# The runner sets RLIMIT_SIGPENDING to 16, soft and hard, before any user code: at most 16 signals
# and timers are queued at once, the rest fail with EAGAIN, and the limit cannot be raised.
import ctypes
import resource
import signal
import threading

libc = ctypes.CDLL(None, use_errno=True)
LIMIT = 16


def main():
    breaches = []
    if resource.getrlimit(resource.RLIMIT_SIGPENDING) != (LIMIT, LIMIT):
        breaches.append("RLIMIT_SIGPENDING is %r" % (resource.getrlimit(resource.RLIMIT_SIGPENDING),))
    for wanted in ((LIMIT, 1 << 20), (1 << 20, 1 << 20), (resource.RLIM_INFINITY, resource.RLIM_INFINITY)):
        try:
            resource.setrlimit(resource.RLIMIT_SIGPENDING, wanted)
            breaches.append("raised RLIMIT_SIGPENDING to %r" % (wanted,))
        except (ValueError, OSError):
            pass
    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGRTMIN, signal.SIGRTMIN + 1])
    me = threading.get_ident()
    queued = 0
    for _ in range(120_000):
        try:
            signal.pthread_kill(me, signal.SIGRTMIN)
        except OSError:
            break
        queued += 1
    # sigqueue() with a value, another way in (rt_sigqueueinfo).
    value = ctypes.c_void_p(1)
    for _ in range(1000):
        if libc.sigqueue(libc.getpid(), int(signal.SIGRTMIN + 1), value) != 0:
            break
        queued += 1
    timers = 0
    timer = ctypes.c_void_p()
    for _ in range(10_000):
        if libc.timer_create(1, None, ctypes.byref(timer)) != 0:  # CLOCK_MONOTONIC, SIGALRM
            break
        timers += 1
    status = dict(line.split(":", 1) for line in open("/proc/self/status") if ":" in line)
    if queued + timers > LIMIT:
        breaches.append("queued %d signals and %d timers (SigQ %s)" % (queued, timers, status["SigQ"].strip()))
    return breaches or "contained"
