# attack: fork bomb: every process forks as fast as it can (bounded at 20 s should nothing stop it)
# category: exhaust
# request: {"timeout": 2}
# within: 8
# expect: status=422 error_type=timeout
# expect: status=422 error_type=memory_limit
import os
import time


def main():
    end = time.monotonic() + 20
    while time.monotonic() < end:
        try:
            os.fork()
        except OSError:
            pass
