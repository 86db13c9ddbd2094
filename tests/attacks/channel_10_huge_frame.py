# attack: flood the result channel with 64 MiB, far more than MAX_RESULT_BYTES, so the server buffers it all
# category: channel
# request: {"timeout": 10}
# expect: status=422 error_type=output_limit
# As a session cell: the cap, or the os._exit that ends the session, whichever the server sees first:
# session-expect: status=422 error_type=output_limit|exited
import os


def main():
    chunk = b'{"ok": true, "result": "' + b"y" * (1 << 20)
    for _ in range(64):
        os.write(3, chunk)
    os._exit(0)
