# attack: a child process (head -c of /dev/zero) floods the inherited stdout with NUL bytes while the wrapper waits
# category: exhaust
# request: {"timeout": 10}
# expect: status=422 error_type=output_limit
import subprocess


def main():
    subprocess.run(["head", "-c", "4000000000", "/dev/zero"])
    return "finished"
