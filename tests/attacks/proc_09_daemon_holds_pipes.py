# attack: a setsid daemon keeps stdout and stderr open after main() returns, so the server's readers never see EOF (@@MARKER@@)
# category: process
# within: 8
# expect: status=200 result="returned"
import os
import sys


def main():
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            os.execv(sys.executable, [sys.executable, "-c",
                                      "import time\nfor _ in range(120):\n    print('still here', flush=True)\n    time.sleep(1)",
                                      "@@MARKER@@"])
        os._exit(0)
    os.wait()
    return "returned"
