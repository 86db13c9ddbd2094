# attack: spread memory over child processes (6 x 40 MiB with a 128 MiB limit): the limit is for the whole run, not per process
# category: exhaust
# request: {"memory": 128, "timeout": 15}
# expect: status=200 result="contained"
# expect: status=422 error_type=memory_limit
import os
import select
import time

CHILDREN, MIB_EACH, LIMIT_MIB = 6, 40, 128


def main():
    report_r, report_w = os.pipe()
    release_r, release_w = os.pipe()
    pids = []
    for _ in range(CHILDREN):
        pid = os.fork()
        if pid == 0:
            try:
                block = bytearray(MIB_EACH << 20)
                for i in range(0, len(block), 4096):
                    block[i] = 1
                os.write(report_w, b"+")
                os.read(release_r, 1)  # hold the memory until the parent has counted
            finally:
                os._exit(0)
        pids.append(pid)
    held, alive = 0, set(pids)
    end = time.monotonic() + 8
    # Until every child has either reported its memory held or died (the OOM killer's choice).
    while time.monotonic() < end and held < len(alive):
        ready, _, _ = select.select([report_r], [], [], 0.05)
        if ready:
            held += len(os.read(report_r, 64))
        for pid in list(alive):
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                alive.discard(pid)
    os.write(release_w, b"x" * CHILDREN)
    for pid in alive:
        os.waitpid(pid, 0)
    if held * MIB_EACH > LIMIT_MIB:
        return "the children held %d MiB at once with a %d MiB limit" % (held * MIB_EACH, LIMIT_MIB)
    return "contained"
