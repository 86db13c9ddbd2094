# attack: write half of a valid frame, then exit before finishing it
# category: channel
# expect: status=422 error_type=invalid_result
import os


def main():
    os.write(3, b'{"ok": true, "result": {"partial": [1, 2, ')
    os._exit(0)
