# attack: signal the parent: os.kill(os.getppid(), SIGKILL/SIGTERM/SIGSTOP) and its process group, hoping to hit nsjail or the server
# category: process
# expect: status=200 result="contained"
import os
import signal


def main():
    breaches = []
    ppid = os.getppid()
    if ppid != 0:
        breaches.append("the parent is visible as pid %d" % ppid)
    for sig in (signal.SIGSTOP, signal.SIGTERM, signal.SIGKILL):
        for target in (ppid, 0, -os.getpgrp()):
            try:
                os.kill(target, sig)
            except OSError:
                pass
    try:
        os.killpg(os.getpgid(0), signal.SIGKILL)
    except OSError:
        pass
    # Still alive (pid 1 of its namespace ignores signals from inside it), and nothing else was visible to hit.
    return breaches or "contained"
