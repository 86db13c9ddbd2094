# attack: exec over the wrapper (os.execv /bin/true): no result frame is ever written, the process exits 0
# category: process
# expect: status=422 error_type=exited
import os


def main():
    os.execv("/bin/true", ["true"])
