# attack: learn where the server's checkout (@@CHECKOUT@@) is from what the jail can read: the mount table (a bind mount shows its source path), the venv's pyvenv.cfg, its scripts' shebangs and its compiled .pyc files
# category: info
# expect: status=200 result="contained"
import importlib.util
import os

CHECKOUT = "@@CHECKOUT@@"


def read(path, limit=1 << 20):
    try:
        with open(path, "rb") as f:
            return f.read(limit).decode("utf-8", "replace")
    except OSError:
        return ""


def main():
    import numpy

    places = ["/proc/self/mountinfo", "/proc/self/mounts", "/proc/1/mountinfo", "/proc/self/mountstats",
              "/venv/pyvenv.cfg", importlib.util.cache_from_source(numpy.__file__)]
    places += ["/venv/bin/" + name for name in sorted(os.listdir("/venv/bin"))[:50]]
    seen = [p for p in places if CHECKOUT in read(p)]
    if not read("/proc/self/mountinfo"):
        return "the mount table could not be read, so this proves nothing"
    return ["%s shows %s" % (p, CHECKOUT) for p in seen] or "contained"
