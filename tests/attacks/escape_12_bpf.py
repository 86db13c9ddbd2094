# attack: bpf(2): create a map and load a trivial socket-filter program (the verifier is a rich kernel attack surface)
# category: escape
# expect: status=200 result="contained"
import ctypes
import errno

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
SYS_bpf = 321
BPF_MAP_CREATE, BPF_PROG_LOAD = 0, 5
BPF_MAP_TYPE_HASH, BPF_PROG_TYPE_SOCKET_FILTER = 1, 1


def main():
    breaches = []
    # union bpf_attr for BPF_MAP_CREATE: map_type, key_size, value_size, max_entries (u32 each).
    attr = (ctypes.c_uint32 * 32)(BPF_MAP_TYPE_HASH, 4, 4, 16)
    ctypes.set_errno(0)
    rc = libc.syscall(ctypes.c_long(SYS_bpf), ctypes.c_long(BPF_MAP_CREATE), ctypes.byref(attr), ctypes.c_long(128))
    if rc >= 0:
        breaches.append("BPF_MAP_CREATE returned fd %d" % rc)
    elif ctypes.get_errno() != errno.EPERM:
        breaches.append("BPF_MAP_CREATE got past the filter: %s" % errno.errorcode.get(ctypes.get_errno()))

    # r0 = 0; exit
    insns = (ctypes.c_uint8 * 16)(0xB7, 0, 0, 0, 0, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0)
    license = ctypes.create_string_buffer(b"GPL")

    class ProgLoad(ctypes.Structure):
        _fields_ = [("prog_type", ctypes.c_uint32), ("insn_cnt", ctypes.c_uint32), ("insns", ctypes.c_uint64),
                    ("license", ctypes.c_uint64), ("log_level", ctypes.c_uint32), ("log_size", ctypes.c_uint32),
                    ("log_buf", ctypes.c_uint64), ("kern_version", ctypes.c_uint32), ("pad", ctypes.c_uint8 * 92)]

    load = ProgLoad(BPF_PROG_TYPE_SOCKET_FILTER, 2, ctypes.addressof(insns), ctypes.addressof(license))
    ctypes.set_errno(0)
    rc = libc.syscall(ctypes.c_long(SYS_bpf), ctypes.c_long(BPF_PROG_LOAD), ctypes.byref(load),
                      ctypes.c_long(ctypes.sizeof(load)))
    if rc >= 0:
        breaches.append("BPF_PROG_LOAD returned fd %d" % rc)
    elif ctypes.get_errno() != errno.EPERM:
        breaches.append("BPF_PROG_LOAD got past the filter: %s" % errno.errorcode.get(ctypes.get_errno()))
    return breaches or "contained"
