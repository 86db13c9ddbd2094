# attack: read the server itself: the checkout (@@CHECKOUT@@), its configs/python.cfg and target/, /proc/<ppid>/exe, any exe that is not the jail's python
# category: info
# expect: status=200 result="contained"
import os

CHECKOUT = "@@CHECKOUT@@"


def main():
    breaches = []
    for path in (CHECKOUT, CHECKOUT + "/configs/python.cfg", CHECKOUT + "/Cargo.toml", CHECKOUT + "/target",
                 CHECKOUT + "/.sandbox/nsjail", CHECKOUT + "/src/sandbox/runner.py", "/work", "/configs/python.cfg",
                 "configs/python.cfg", "/proc/%d/exe" % os.getppid(), "/proc/0/exe", "/proc/1/root" + CHECKOUT):
        if os.path.lexists(path):
            breaches.append(path + " is visible")
    for pid in [p for p in os.listdir("/proc") if p.isdigit()]:
        try:
            exe = os.readlink("/proc/%s/exe" % pid)
        except OSError:
            continue
        if not exe.startswith(("/usr/", "/venv/", "/bin/")):
            breaches.append("/proc/%s/exe is %s" % (pid, exe))
    # The runner's source is in this process (it runs here); the server's source and binary are not.
    for top in ("/", "/tmp", "/venv"):
        for name in os.listdir(top):
            if name in ("python-script-api", "nsjail", "python.cfg", "Cargo.toml"):
                breaches.append("%s/%s exists" % (top, name))
    return breaches or "contained"
