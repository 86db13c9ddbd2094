# attack: block and ignore every signal, then sleep: only SIGKILL from outside may end it
# category: exhaust
# request: {"timeout": 1}
# within: 6
# expect: status=422 error_type=timeout
import signal
import time


def main():
    for sig in signal.valid_signals():
        try:
            signal.signal(sig, signal.SIG_IGN)
        except (OSError, ValueError):
            pass
    signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())
    time.sleep(60)
