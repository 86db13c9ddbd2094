# attack: write half of a valid frame, then exit before finishing it
# category: channel
# expect: status=422 error_type=invalid_result
# As a session cell, os._exit ends the session's Python, and the session with it:
# session-expect: status=422 error_type=exited
import os


def main():
    os.write(3, b'{"ok": true, "result": {"partial": [1, 2, ')
    os._exit(0)
