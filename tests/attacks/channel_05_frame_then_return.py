# attack: write a valid frame on fd 3, then return normally, so that the wrapper appends a second frame
# category: channel
# expect: status=422 error_type=invalid_result
import os


def main():
    os.write(3, b'{"ok": true, "result": "first"}')
    return "second"
