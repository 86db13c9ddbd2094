# attack: lock memory into RAM where the kernel charges it per user: SHM_LOCK a SysV segment (RLIMIT_MEMLOCK, counted up to host root), a SHM_HUGETLB segment, mlock
# category: exhaust
# request: {"timeout": 10}
# expect: status=200 result="contained"
# RLIMIT_MEMLOCK is 0, soft and hard: every lock fails.
import ctypes
import mmap
import resource

libc = ctypes.CDLL(None, use_errno=True)
IPC_PRIVATE, IPC_CREAT, IPC_RMID, SHM_LOCK, SHM_HUGETLB = 0, 0o1000, 0, 11, 0o4000


def main():
    breaches = []
    if resource.getrlimit(resource.RLIMIT_MEMLOCK) != (0, 0):
        breaches.append("RLIMIT_MEMLOCK is %r" % (resource.getrlimit(resource.RLIMIT_MEMLOCK),))
    try:
        resource.setrlimit(resource.RLIMIT_MEMLOCK, (8 << 20, 8 << 20))
        breaches.append("raised RLIMIT_MEMLOCK")
    except (ValueError, OSError):
        pass
    shmid = libc.shmget(IPC_PRIVATE, 4 << 20, IPC_CREAT | 0o600)
    if shmid >= 0:
        if libc.shmctl(shmid, SHM_LOCK, None) == 0:
            breaches.append("SHM_LOCK of 4 MiB succeeded")
        libc.shmctl(shmid, IPC_RMID, None)
    huge = libc.shmget(IPC_PRIVATE, 2 << 20, IPC_CREAT | SHM_HUGETLB | 0o600)
    if huge >= 0:
        breaches.append("a SHM_HUGETLB segment was created")
        libc.shmctl(huge, IPC_RMID, None)
    buf = mmap.mmap(-1, 1 << 20)
    address = ctypes.addressof(ctypes.c_char.from_buffer(buf))
    if libc.mlock(ctypes.c_void_p(address), ctypes.c_size_t(1 << 20)) == 0:
        breaches.append("mlock of 1 MiB succeeded")
        libc.munlock(ctypes.c_void_p(address), ctypes.c_size_t(1 << 20))
    return breaches or "contained"
