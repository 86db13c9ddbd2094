# attack: stderr flood through the raw fd (bypassing Python's buffering), bounded at 4 GiB
# category: exhaust
# request: {"timeout": 10}
# expect: status=422 error_type=output_limit
import os


def main():
    chunk = b"e" * 65536
    for _ in range(65536):
        os.write(2, chunk)
