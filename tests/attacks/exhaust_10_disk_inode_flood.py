# attack: inode flood: millions of empty files in /tmp (each costs kernel memory, not disk blocks)
# category: exhaust
# request: {"memory": 64, "timeout": 5}
# expect: status=422 error_type=memory_limit
# expect: status=200 result="contained"
import time


def main():
    end = time.monotonic() + 20
    created = 0
    try:
        while created < 2_000_000 and time.monotonic() < end:
            open("/tmp/f%d" % created, "w").close()
            created += 1
    except OSError:
        return "contained"  # ENOSPC: the tmpfs ran out of inodes
    return "created %d files" % created
