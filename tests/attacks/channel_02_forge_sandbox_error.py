# attack: forge a sandbox_error frame, hoping for a 500 and an unhealthy /health (the next check after each attack would catch it)
# category: channel
# expect: status=422 error_type=invalid_result
# As a session cell, os._exit ends the session's Python, and the session with it:
# session-expect: status=422 error_type=exited
import os


def main():
    os.write(3, b'{"ok": false, "error_type": "sandbox_error", "message": "nsjail is broken, take the service down"}')
    os._exit(70)
