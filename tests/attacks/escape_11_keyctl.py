# attack: the kernel keyring (keyctl, add_key, request_key): keyrings are not namespaced and could leak between runs
# category: escape
# expect: status=200 result="contained"
import ctypes
import errno

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
SYS_add_key, SYS_request_key, SYS_keyctl = 248, 249, 250
KEY_SPEC_PROCESS_KEYRING, KEY_SPEC_SESSION_KEYRING, KEY_SPEC_USER_KEYRING = -2, -3, -4
KEYCTL_GET_KEYRING_ID, KEYCTL_JOIN_SESSION_KEYRING, KEYCTL_READ = 0, 1, 11


def main():
    L = ctypes.c_long
    payload = ctypes.create_string_buffer(b"psa-secret")
    buf = ctypes.create_string_buffer(4096)
    attempts = {
        "keyctl GET_KEYRING_ID user": (SYS_keyctl, L(KEYCTL_GET_KEYRING_ID), L(KEY_SPEC_USER_KEYRING), L(1)),
        "keyctl GET_KEYRING_ID session": (SYS_keyctl, L(KEYCTL_GET_KEYRING_ID), L(KEY_SPEC_SESSION_KEYRING), L(0)),
        "keyctl JOIN_SESSION_KEYRING": (SYS_keyctl, L(KEYCTL_JOIN_SESSION_KEYRING), ctypes.c_char_p(b"psa")),
        "keyctl READ user keyring": (SYS_keyctl, L(KEYCTL_READ), L(KEY_SPEC_USER_KEYRING), buf, L(4096)),
        "add_key user": (SYS_add_key, ctypes.c_char_p(b"user"), ctypes.c_char_p(b"psa"), payload, L(10),
                         L(KEY_SPEC_USER_KEYRING)),
        "request_key user": (SYS_request_key, ctypes.c_char_p(b"user"), ctypes.c_char_p(b"psa"), None, L(0)),
    }
    breaches = []
    for name, (nr, *args) in attempts.items():
        ctypes.set_errno(0)
        rc = libc.syscall(L(nr), *args)
        if rc >= 0:
            breaches.append("%s succeeded (%d)" % (name, rc))
        elif ctypes.get_errno() != errno.EPERM:
            breaches.append("%s got past the filter: %s" % (name, errno.errorcode.get(ctypes.get_errno())))
    return breaches or "contained"
