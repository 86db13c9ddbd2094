# attack: zombie pile-up: children exit and are never reaped, each still holding a pid
# category: exhaust
# expect: status=200 result="contained"
import os


def main():
    created = 0
    for _ in range(1000):
        try:
            pid = os.fork()
        except OSError:
            break
        if pid == 0:
            os._exit(0)
        created += 1
    return "contained" if created < 64 else "created %d unreaped children" % created
