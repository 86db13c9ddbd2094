# attack: read the server's environment and credentials: os.environ, /proc/*/environ, for the test's canary variable and any server setting
# category: info
# expect: status=200 result="contained"
import os

CANARY = "@@CANARY@@"
EXPECTED = {
    "PATH": "/venv/bin:/usr/bin:/bin", "HOME": "/tmp", "USER": "nobody", "LOGNAME": "nobody", "TMPDIR": "/tmp", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
    "PYTHONIOENCODING": "utf-8", "PYTHONDONTWRITEBYTECODE": "1", "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1", "NUMEXPR_NUM_THREADS": "1", "MPLBACKEND": "Agg", "MPLCONFIGDIR": "/tmp/.matplotlib",
}


def main():
    breaches = []
    env = dict(os.environ)
    for key in sorted(set(env) - set(EXPECTED)):
        breaches.append("unexpected variable %s=%s" % (key, env[key][:60]))
    for key, value in EXPECTED.items():
        if env.get(key) != value:
            breaches.append("%s is %r" % (key, env.get(key)))
    for pid in [p for p in os.listdir("/proc") if p.isdigit()] + ["self", "thread-self"]:
        try:
            raw = open("/proc/%s/environ" % pid, "rb").read()
        except OSError:
            continue
        if CANARY.encode() in raw:
            breaches.append("the canary is in /proc/%s/environ" % pid)
        for entry in raw.split(b"\0"):
            key = entry.split(b"=", 1)[0].decode(errors="replace")
            if entry and key not in EXPECTED:
                breaches.append("/proc/%s/environ has %s" % (pid, key))
    return breaches or "contained"
