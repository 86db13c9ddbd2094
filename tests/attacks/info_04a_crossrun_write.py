# attack: leave traces for the next run (first half; info_04b checks them): files in /tmp and /dev/shm, SysV shared memory and a message queue
# category: info
# expect: status=200 result="written"
import ctypes
import os

libc = ctypes.CDLL(None, use_errno=True)
KEY = 0x50534121
IPC_CREAT = 0o1000


def main():
    with open("/tmp/psa-crossrun-secret", "w") as f:
        f.write("left by the previous run")
    with open("/dev/shm/psa-crossrun-secret", "w") as f:
        f.write("left by the previous run")
    os.mkdir("/tmp/psa-crossrun-dir")
    shm = libc.shmget(KEY, 4096, IPC_CREAT | 0o666)
    msq = libc.msgget(KEY, IPC_CREAT | 0o666)
    sem = libc.semget(KEY, 1, IPC_CREAT | 0o666)
    if min(shm, msq, sem) < 0:
        return "ipc refused: shm=%d msq=%d sem=%d errno=%d" % (shm, msq, sem, ctypes.get_errno())
    return "written"
