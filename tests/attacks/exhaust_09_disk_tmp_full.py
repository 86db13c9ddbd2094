# attack: fill /tmp (64 MiB tmpfs) and /dev/shm (16 MiB) with 1 MiB files until refused (memory is raised so the size cap, not the memory limit, is hit)
# category: exhaust
# request: {"memory": 512, "timeout": 20}
# expect: status=200 result="contained"
import errno
import os


def fill(top, cap_mib):
    written = 0
    for i in range(4 * cap_mib):
        try:
            with open(os.path.join(top, "fill-%d" % i), "wb") as f:
                f.write(b"\xff" * (1 << 20))
            written += 1
        except OSError as e:
            if e.errno not in (errno.ENOSPC, errno.EFBIG):
                return written, "%r" % e
            return written, None
    return written, "never refused"


def main():
    breaches = []
    for top, cap in (("/tmp", 64), ("/dev/shm", 16)):
        written, problem = fill(top, cap)
        if problem or written > cap:
            breaches.append("%s took %d MiB (%s)" % (top, written, problem))
    return breaches or "contained"
