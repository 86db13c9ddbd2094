# attack: close fd 3, then return: the wrapper's frame has nowhere to go
# category: channel
# expect: status=422 error_type=exited
import os


def main():
    os.close(3)
    return "nobody will see this"
