# attack: a setsid daemon (@@MARKER@@) that outlives a run ended by its timeout: the kill must reach it too
# category: process
# request: {"timeout": 1}
# within: 6
# expect: status=422 error_type=timeout
import os
import sys
import time


def main():
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(120)", "@@MARKER@@"])
        os._exit(0)
    os.wait()
    time.sleep(60)
