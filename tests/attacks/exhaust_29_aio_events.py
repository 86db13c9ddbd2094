# attack: take the host's Linux AIO budget (fs.aio-max-nr, 65536 events for the whole host): io_setup with a huge nr_events, then many small contexts
# category: exhaust
# request: {"timeout": 10}
# expect: status=200 result="contained"
# io_setup and the rest of Linux AIO are refused by seccomp (ENOSYS): no event is reserved.
import ctypes

libc = ctypes.CDLL(None, use_errno=True)
SYS_IO_SETUP = 206


def main():
    contexts, errors = 0, set()
    for nr in [65536, 60000] + [128] * 500:
        ctx = ctypes.c_ulong(0)
        if libc.syscall(SYS_IO_SETUP, nr, ctypes.byref(ctx)) != 0:
            errors.add(ctypes.get_errno())
            continue
        contexts += 1
    if contexts:
        return "created %d AIO contexts" % contexts
    if errors != {38}:
        return "refused, but with errno %r instead of ENOSYS" % sorted(errors)
    return "contained"
