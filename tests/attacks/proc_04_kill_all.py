# attack: kill -1: os.kill(-1, SIGKILL) reaches every process the caller may signal; on the host that would be every nobody process
# category: process
# expect: status=200 result="contained"
import os
import signal
import subprocess


def main():
    breaches = []
    children = [subprocess.Popen(["sleep", "60"]) for _ in range(3)]
    try:
        os.kill(-1, signal.SIGKILL)
    except ProcessLookupError:
        breaches.append("kill(-1) found nothing to signal, not even the run's own children")
    for child in children:
        if child.wait(timeout=5) != -signal.SIGKILL:
            breaches.append("a child ended with %r" % child.returncode)
    for sig in (signal.SIGTERM, signal.SIGSTOP, signal.SIGCONT):
        try:
            os.kill(-1, sig)
        except ProcessLookupError:
            pass  # nothing left in the jail but the caller
    left = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
    if left != [1]:
        breaches.append("pids still visible: %r" % left)
    return breaches or "contained"
