# attack: write through /proc/self/mem (and from a child through /proc/<ppid>/mem) into read-only file mappings of /usr and /venv, Dirty-COW style
# category: escape
# expect: status=200 result="contained"
import hashlib
import mmap
import os
import sys

# Writing into one's own memory is allowed in principle; what must never happen is that the write reaches
# the file behind a read-only, private mapping (the host's /usr, the shared venv).


def digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def mapped_at(path):
    for line in open("/proc/self/maps"):
        if line.rstrip().endswith(" " + path):
            return int(line.split("-")[0], 16)
    return None


def poke(mem, addr):
    try:
        fd = os.open(mem, os.O_RDWR)
    except OSError:
        return False
    try:
        os.lseek(fd, addr, os.SEEK_SET)
        os.write(fd, b"PWNED!")
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def main():
    breaches = []
    targets = [p for p in ("/usr/lib/os-release", os.path.realpath(sys.executable), "/venv/pyvenv.cfg")
               if os.path.isfile(p)]
    maps = []
    for path in targets:
        with open(path, "rb") as f:
            maps.append(mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ, flags=mmap.MAP_PRIVATE))
    for path in targets:
        before = digest(path)
        addr = mapped_at(path)
        if addr is None:
            continue
        poke("/proc/self/mem", addr)
        pid = os.fork()
        if pid == 0:
            poke("/proc/%d/mem" % os.getppid(), addr)
            os._exit(0)
        os.waitpid(pid, 0)
        if digest(path) != before:
            breaches.append("%s changed on disk" % path)
    if not targets:
        breaches.append("no target file found (the attack did not run)")
    return breaches or "contained"
