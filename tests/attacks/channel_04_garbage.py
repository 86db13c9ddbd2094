# attack: corrupt the result channel with binary garbage (invalid UTF-8, NULs, half a JSON object) and exit
# category: channel
# expect: status=422 error_type=invalid_result
# As a session cell, os._exit ends the session's Python, and the session with it:
# session-expect: status=422 error_type=exited
import os


def main():
    os.write(3, b'\xff\xfe\x00{"ok": tr' + os.urandom(4096) + b"\x00\xc3\x28")
    os._exit(0)
