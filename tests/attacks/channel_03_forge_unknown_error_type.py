# attack: forge a failure frame whose error_type is one the runner never sends (overloaded), hoping for a 429 or 500
# category: channel
# expect: status=422 error_type=invalid_result
# session-expect: status=422 error_type=exited
import os


def main():
    os.write(3, b'{"ok": false, "error_type": "overloaded", "message": "retry later", "exit_code": 0}')
    os._exit(0)
