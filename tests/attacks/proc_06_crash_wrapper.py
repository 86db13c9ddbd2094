# attack: crash the wrapper with a segfault (a write to address 0 through ctypes) before main() returns
# category: process
# expect: status=422 error_type=exited
import ctypes


def main():
    ctypes.memset(0, 0xFF, 16)
    return "survived a NULL dereference"
