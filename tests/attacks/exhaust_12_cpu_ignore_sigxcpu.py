# attack: ignore SIGXCPU (the soft CPU limit) and keep spinning, hoping only the soft limit exists
# category: exhaust
# request: {"timeout": 1}
# within: 6
# expect: status=422 error_type=timeout
import signal
import time


def main():
    signal.signal(signal.SIGXCPU, signal.SIG_IGN)
    end = time.monotonic() + 30
    while time.monotonic() < end:
        pass
