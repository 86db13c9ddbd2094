# attack: lift every resource limit (CPU, file size, processes, address space, core dumps, locked memory, nice, rtprio) above its hard value
# category: exhaust
# expect: status=200 result="contained"
# A session has no RLIMIT_CPU hard limit (its CPU adds up over cells; each cell's wall-clock
# deadline bounds it, SECURITY.md "Sessions"); everything else must hold as in a run:
# session-expect: status=200 result=["RLIMIT_CPU has no hard limit"]
import os
import resource

NAMES = [n for n in dir(resource) if n.startswith("RLIMIT_")]


def main():
    breaches = []
    for name in NAMES:
        which = getattr(resource, name)
        soft, hard = resource.getrlimit(which)
        if hard == resource.RLIM_INFINITY:
            continue
        try:
            resource.setrlimit(which, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
            breaches.append("%s raised from %d to infinity" % (name, hard))
        except (ValueError, OSError):
            pass
        try:
            resource.setrlimit(which, (hard + 1, hard + 1))
            breaches.append("%s raised above its hard limit %d" % (name, hard))
        except (ValueError, OSError):
            pass
    if resource.getrlimit(resource.RLIMIT_CPU)[1] == resource.RLIM_INFINITY:
        breaches.append("RLIMIT_CPU has no hard limit")
    if resource.getrlimit(resource.RLIMIT_CORE)[1] != 0:
        breaches.append("core dumps allowed: %r" % (resource.getrlimit(resource.RLIMIT_CORE),))
    try:
        os.setpriority(os.PRIO_PROCESS, 0, -20)
        breaches.append("nice -20 accepted")
    except OSError:
        pass
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(99))
        breaches.append("SCHED_FIFO 99 accepted")
    except OSError:
        pass
    return breaches or "contained"
