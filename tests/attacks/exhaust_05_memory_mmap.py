# attack: anonymous mmap of 1 GiB (lazily committed), then touch every page
# category: exhaust
# request: {"memory": 64, "timeout": 10}
# expect: status=422 error_type=memory_limit
import mmap


def main():
    size = 1 << 30
    m = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    for offset in range(0, size, mmap.PAGESIZE):
        m[offset] = 1
    return "touched %d MiB" % (size >> 20)
