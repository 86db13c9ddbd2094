# attack: forge a frame in the runner's own shape (name and content only) whose names climb out of the folder, one per file, in every spelling: "..", an absolute path, Windows separators, a NUL
# category: channel
# expect: status=422 error_type=invalid_result
# As a session cell, os._exit ends the session's Python, and the session with it:
# session-expect: status=422 error_type=exited
import json
import os


def main():
    files = [
        {"name": "fine.txt", "content_base64": "eA=="},
        {"name": "plots/../../../../etc/passwd", "content_base64": "eA=="},
        {"name": "..\\..\\Windows\\evil.bat", "content_base64": "eA=="},
        {"name": "a\u0000b", "content_base64": "eA=="},
    ]
    frame = json.dumps({"ok": True, "result": "saved", "files": files}).encode()
    os.write(3, b"%d\n" % len(frame) + frame)
    os._exit(0)
