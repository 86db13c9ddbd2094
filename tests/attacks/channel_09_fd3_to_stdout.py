# attack: dup2 stdout onto fd 3, then return: the wrapper's frame lands on stdout, where it must stay plain output
# category: channel
# expect: status=422 error_type=exited
# As a session cell the channel is the cell's own, and the session lives on:
# session-expect: status=422 error_type=invalid_result
import os


def main():
    os.dup2(1, 3)
    return "in the wrong pipe"
