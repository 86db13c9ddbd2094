# attack: forge a runner-failure frame (error_type sandbox_error) whose message is 4 MiB of attacker text, which the server writes to its own log
# category: channel
# request: {"timeout": 10}
# expect: status=422 error_type=invalid_result
# As a session cell, os._exit ends the session's Python, and the session with it:
# session-expect: status=422 error_type=exited
# The HTTP answer is right; what this cannot check from outside is the server's log. At the time of writing the
# server logs the frame's message (log::warn! in frame_status, src/sandbox/mod.rs) whole: one 4 MiB log line
# of script-chosen text per request, up to MAX_RESULT_BYTES.
import os


def main():
    os.write(3, b'{"ok": false, "error_type": "sandbox_error", "message": "' + b"A" * (4 << 20) + b'"}')
    os._exit(0)
