# attack: one file past RLIMIT_FSIZE (64 MiB): a sparse write at 65 MiB, ftruncate to 1 GiB, in /tmp and /dev/shm
# category: exhaust
# expect: status=200 result="contained"
import errno
import os


def main():
    breaches = []
    for path in ("/tmp/big", "/dev/shm/big"):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            os.pwrite(fd, b"x", 65 << 20)
            breaches.append("wrote at offset 65 MiB of " + path)
        except OSError as e:
            if e.errno != errno.EFBIG:
                breaches.append("%s: %r (not EFBIG)" % (path, e))
        try:
            os.ftruncate(fd, 1 << 30)
            breaches.append("truncated %s to 1 GiB" % path)
        except OSError as e:
            if e.errno != errno.EFBIG:
                breaches.append("%s: %r (not EFBIG)" % (path, e))
        os.close(fd)
        size = os.stat(path).st_size
        if size > 64 << 20:
            breaches.append("%s is %d bytes" % (path, size))
    return breaches or "contained"
