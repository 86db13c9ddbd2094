# attack: a child that stops itself (SIGSTOP) while holding the output pipes: a stopped process ignores everything but SIGKILL (@@MARKER@@)
# category: process
# within: 8
# expect: status=200 result="returned"
import subprocess


def main():
    subprocess.Popen(["/bin/sh", "-c", "kill -STOP $$; sleep 120", "@@MARKER@@"])
    return "returned"
