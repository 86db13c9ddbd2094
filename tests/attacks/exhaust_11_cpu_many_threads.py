# attack: CPU spinning in 8 processes with 4 threads each (bounded at 30 s should nothing stop them)
# category: exhaust
# request: {"timeout": 2}
# within: 8
# expect: status=422 error_type=timeout
import os
import threading
import time


def spin():
    end = time.monotonic() + 30
    x = 0
    while time.monotonic() < end:
        x += 1


def main():
    for _ in range(7):
        if os.fork() == 0:
            break
    threads = [threading.Thread(target=spin) for _ in range(4)]
    for t in threads:
        t.start()
    spin()
