# attack: a proper daemon: double fork, setsid, SIGHUP/SIGTERM ignored, cwd /, then exec with @@MARKER@@ (the test checks it died)
# category: process
# expect: status=200 result="spawned"
import os
import signal
import sys


def main():
    if os.fork() == 0:
        os.setsid()
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        if os.fork() == 0:
            os.chdir("/")
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            devnull = os.open("/dev/null", os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(devnull, fd)
            os.execv(sys.executable, [sys.executable, "-c",
                                      "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\ntime.sleep(120)",
                                      "@@MARKER@@"])
        os._exit(0)
    os.wait()
    return "spawned"
