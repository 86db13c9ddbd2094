# attack: forge a success frame (without the runner's length prefix) on fd 3 and os._exit(0); either the forged value (the script may return any JSON) or invalid_result, never a 5xx
# category: channel
# expect: status=200 result="forged"
# expect: status=422 error_type=invalid_result
# As a session cell, os._exit ends the session's Python, and the session with it:
# session-expect: status=422 error_type=exited
import os


def main():
    os.write(3, b'{"ok": true, "result": "forged", "usage": {"cpu_time_ms": 0, "max_rss_kib": 0}}')
    os._exit(0)
