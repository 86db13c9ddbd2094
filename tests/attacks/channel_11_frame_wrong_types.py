# attack: a frame whose fields have the wrong types: negative usage, exit_code past i32, a number for the message
# category: channel
# expect: status=422 error_type=invalid_result
# As a session cell, os._exit ends the session's Python, and the session with it:
# session-expect: status=422 error_type=exited
import os


def main():
    os.write(3, b'{"ok": false, "error_type": "exited", "exit_code": 99999999999, "message": 17,'
                b' "usage": {"cpu_time_ms": -1, "max_rss_kib": 1e400}}')
    os._exit(0)
