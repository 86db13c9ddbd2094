# attack: close fd 3, then return: the wrapper's frame has nowhere to go
# category: channel
# expect: status=422 error_type=exited
# As a session cell the channel is the cell's own, and the session lives on:
# session-expect: status=422 error_type=invalid_result
import os


def main():
    os.close(3)
    return "nobody will see this"
