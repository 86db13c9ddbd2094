# attack: kill the wrapper itself (pid 1 of the jail) with SIGKILL, from itself and from a child: the run must end cleanly either way
# category: process
# expect: status=200 result="contained"
# expect: status=422 error_type=exited
import os
import signal


def main():
    pid = os.fork()
    if pid == 0:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            os.kill(1, sig)
        os._exit(0)
    os.waitpid(pid, 0)
    os.kill(os.getpid(), signal.SIGKILL)
    os.kill(1, signal.SIGKILL)
    return "contained"
