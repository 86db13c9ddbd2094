# attack: thread bomb: start threads until refused; the run's pids limit (64) must stop it well before the host's
# category: exhaust
# request: {"timeout": 10}
# expect: status=200 result="contained"
import threading


def main():
    stop = threading.Event()
    started = 0
    try:
        for _ in range(2000):
            threading.Thread(target=stop.wait, daemon=True).start()
            started += 1
    except RuntimeError:
        pass
    stop.set()
    return "contained" if started < 64 else "started %d threads" % started
