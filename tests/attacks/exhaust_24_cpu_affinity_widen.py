# attack: widen the CPU affinity mask past SANDBOX_MAX_CPUS (sched_setaffinity to every CPU), then spin on all of them at once
# category: exhaust
# request: {"timeout": 5}
# expect: status=200 result="contained"
import os
import time


def cpus_used_by_spinners(count, seconds):
    """Forks `count` spinners; returns the set of CPUs they were seen running on."""
    r, w = os.pipe()
    pids = []
    for _ in range(count):
        pid = os.fork()
        if pid == 0:
            seen = set()
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                seen.add(int(open("/proc/self/stat").read().rsplit(")", 1)[1].split()[36]))
            os.write(w, (",".join(map(str, seen)) + "\n").encode())
            os._exit(0)
        pids.append(pid)
    os.close(w)
    data = b""
    while True:
        chunk = os.read(r, 4096)
        if not chunk:
            break
        data += chunk
    for pid in pids:
        os.waitpid(pid, 0)
    return {int(c) for line in data.decode().split() for c in line.split(",") if c}


def main():
    allowed = sorted(os.sched_getaffinity(0))
    everything = range(os.cpu_count() or 1)
    try:
        os.sched_setaffinity(0, everything)
    except OSError:
        pass
    widened = sorted(os.sched_getaffinity(0))
    if widened == allowed:
        return "contained"
    used = cpus_used_by_spinners(len(widened), 0.5)
    return "affinity widened from %r to %r; spinners ran on CPUs %r" % (allowed, widened, sorted(used))
