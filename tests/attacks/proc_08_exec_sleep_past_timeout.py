# attack: exec over the wrapper with a shell that sleeps past the wall clock and never writes a result (@@MARKER@@)
# category: process
# request: {"timeout": 1}
# within: 6
# expect: status=422 error_type=timeout
import os


def main():
    os.execv("/bin/sh", ["sh", "-c", "sleep 60; exit 0", "@@MARKER@@"])
