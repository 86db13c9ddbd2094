# attack: stdout flood: 64 KiB writes without end (bounded at 4 GiB), to make the server buffer it all
# category: exhaust
# request: {"timeout": 10}
# expect: status=422 error_type=output_limit
import sys


def main():
    chunk = "x" * 65536
    for _ in range(65536):
        sys.stdout.write(chunk)
