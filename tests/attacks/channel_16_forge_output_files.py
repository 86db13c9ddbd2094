# attack: forge a success frame whose output files are named ../../../home/user/.bashrc and /etc/cron.d/evil, with a size that does not match, content that is not base64 and a chosen MIME type; a client saving files by name would write outside its folder
# category: channel
# expect: status=422 error_type=invalid_result
# As a session cell, os._exit ends the session's Python, and the session with it:
# session-expect: status=422 error_type=exited
import json
import os


def main():
    files = [
        {"name": "../../../home/user/.bashrc", "size": 1, "mime_type": "text/plain", "content_base64": "Y3VybCBldmls"},
        {"name": "/etc/cron.d/evil", "size": 0, "mime_type": "text/html", "content_base64": "* * * * * root sh"},
    ]
    frame = json.dumps({"ok": True, "result": "saved", "files": files}).encode()
    os.write(3, b"%d\n" % len(frame) + frame)
    os._exit(0)
