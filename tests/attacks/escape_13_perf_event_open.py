# attack: perf_event_open(2) on this process and system-wide (cpu 0, pid -1): a side channel and kernel attack surface
# category: escape
# expect: status=200 result="contained"
import ctypes
import errno

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
SYS_perf_event_open = 298
PERF_TYPE_HARDWARE, PERF_TYPE_SOFTWARE, PERF_TYPE_TRACEPOINT = 0, 1, 2


def attr(kind, config):
    a = (ctypes.c_uint8 * 128)()
    ctypes.c_uint32.from_buffer(a, 0).value = kind
    ctypes.c_uint32.from_buffer(a, 4).value = 128  # size
    ctypes.c_uint64.from_buffer(a, 8).value = config
    return a


def main():
    breaches = []
    L = ctypes.c_long
    for name, kind, config, pid, cpu in (("software cpu-clock, self", PERF_TYPE_SOFTWARE, 0, 0, -1),
                                         ("hardware cycles, self", PERF_TYPE_HARDWARE, 0, 0, -1),
                                         ("software cpu-clock, all of cpu 0", PERF_TYPE_SOFTWARE, 0, -1, 0),
                                         ("tracepoint 1, all of cpu 0", PERF_TYPE_TRACEPOINT, 1, -1, 0)):
        a = attr(kind, config)
        ctypes.set_errno(0)
        fd = libc.syscall(L(SYS_perf_event_open), ctypes.byref(a), L(pid), L(cpu), L(-1), L(0))
        if fd >= 0:
            breaches.append("perf_event_open(%s) returned fd %d" % (name, fd))
        elif ctypes.get_errno() != errno.EPERM:
            breaches.append("perf_event_open(%s) got past the filter: %s" % (name, errno.errorcode.get(ctypes.get_errno())))
    return breaches or "contained"
