# attack: leave children running after main() returns (Popen without wait, a forked sleeper); the test then looks for @@MARKER@@ on the host
# category: process
# expect: status=200 result="spawned"
import os
import subprocess
import sys


def main():
    for _ in range(3):
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", "@@MARKER@@"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if os.fork() == 0:
        os.execv("/bin/sh", ["sh", "-c", "sleep 120; exit 0", "@@MARKER@@"])
    return "spawned"
