# attack: look for any capability (capget, /proc/self/status, PR_CAPBSET_READ) and try to gain one (capset, ambient raise)
# category: escape
# expect: status=200 result="contained"
import ctypes

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
SYS_capget, SYS_capset = 125, 126
LINUX_CAPABILITY_VERSION_3 = 0x20080522
PR_CAPBSET_READ, PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE = 23, 47, 2
PR_GET_NO_NEW_PRIVS, PR_SET_NO_NEW_PRIVS = 39, 38
CAP_SYS_ADMIN, CAP_LAST = 21, 63


class Header(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class Data(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def main():
    breaches = []
    hdr, data = Header(LINUX_CAPABILITY_VERSION_3, 0), (Data * 2)()
    if libc.syscall(ctypes.c_long(SYS_capget), ctypes.byref(hdr), ctypes.byref(data)) != 0:
        breaches.append("capget failed (errno %d), cannot check" % ctypes.get_errno())
    for i, d in enumerate(data):
        if d.effective or d.permitted or d.inheritable:
            breaches.append("capget word %d: eff=%#x perm=%#x inh=%#x" % (i, d.effective, d.permitted, d.inheritable))
    status = dict(line.split(":", 1) for line in open("/proc/self/status") if ":" in line)
    for field in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        if int(status[field].strip(), 16) != 0:
            breaches.append("%s = %s" % (field, status[field].strip()))
    if status["NoNewPrivs"].strip() != "1":
        breaches.append("NoNewPrivs = " + status["NoNewPrivs"].strip())
    if status["Seccomp"].strip() != "2":
        breaches.append("Seccomp = " + status["Seccomp"].strip())
    in_bounding = [c for c in range(CAP_LAST + 1) if libc.prctl(PR_CAPBSET_READ, c, 0, 0, 0) == 1]
    if in_bounding:
        breaches.append("capabilities in the bounding set: %r" % in_bounding)
    # Try to give ourselves CAP_SYS_ADMIN in every set.
    for d in data:
        d.effective = d.permitted = d.inheritable = 0xFFFFFFFF
    if libc.syscall(ctypes.c_long(SYS_capset), ctypes.byref(hdr), ctypes.byref(data)) == 0:
        breaches.append("capset(all) succeeded")
    if libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_SYS_ADMIN, 0, 0) == 0:
        breaches.append("ambient CAP_SYS_ADMIN raised")
    libc.prctl(PR_SET_NO_NEW_PRIVS, 0, 0, 0, 0)
    if libc.prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1:
        breaches.append("no_new_privs was cleared")
    after = dict(line.split(":", 1) for line in open("/proc/self/status") if ":" in line)
    if int(after["CapEff"].strip(), 16) != 0:
        breaches.append("CapEff after the attempts: " + after["CapEff"].strip())
    return breaches or "contained"
