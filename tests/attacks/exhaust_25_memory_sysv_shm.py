# attack: memory outside the process: a 512 MiB SysV shared memory segment, attached, touched and detached (it outlives its users)
# category: exhaust
# request: {"memory": 64, "timeout": 10}
# expect: status=422 error_type=memory_limit
import ctypes

libc = ctypes.CDLL(None, use_errno=True)
libc.shmat.restype = ctypes.c_void_p
libc.shmat.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_int]
IPC_PRIVATE, IPC_CREAT = 0, 0o1000
SIZE = 512 << 20


def main():
    held = []
    for _ in range(4):
        shmid = libc.shmget(IPC_PRIVATE, SIZE, IPC_CREAT | 0o600)
        if shmid < 0:
            return "contained"  # refused outright (shmmax/shmall)
        addr = libc.shmat(shmid, None, 0)
        if addr in (None, ctypes.c_void_p(-1).value):
            return "contained"
        for offset in range(0, SIZE, 4096):
            ctypes.c_char.from_address(addr + offset).value = b"x"
        libc.shmdt(ctypes.c_void_p(addr))
        held.append(shmid)
    return "held %d MiB of SysV shared memory with a 64 MiB limit" % (len(held) * (SIZE >> 20))
