# attack: reach the host's filesystem through /proc/1/root, /proc/*/root, /proc/*/cwd and .. walks from them
# category: escape
# expect: status=200 result="contained"
import os

JAIL_ROOT = ["bin", "dev", "etc", "lib", "lib64", "proc", "tmp", "usr", "venv"]
HOST_ONLY = ["etc/shadow", "etc/hostname", "etc/resolv.conf", "root", "home", "var", "sys", "boot", "work", "run",
             "srv", "opt", "mnt"]


def main():
    breaches = []
    roots = ["/proc/1/root", "/proc/self/root", "/proc/thread-self/root", "/proc/1/cwd/..", "/proc/self/cwd/../.."]
    roots += ["/proc/%s/root" % p for p in os.listdir("/proc") if p.isdigit()]
    for root in roots:
        for walk in ("", "/..", "/../../..", "/proc/1/root/proc/1/root"):
            base = root + walk
            try:
                entries = sorted(os.listdir(base))
            except OSError:
                continue
            if entries != JAIL_ROOT:
                breaches.append("%s lists %r" % (base, entries))
            for host in HOST_ONLY:
                if os.path.lexists(os.path.join(base, host)):
                    breaches.append("%s/%s exists" % (base, host))
    try:
        target = os.readlink("/proc/1/root")
        if target != "/":
            breaches.append("/proc/1/root points at %r" % target)
    except OSError as e:
        breaches.append("cannot read /proc/1/root: %s" % e)
    return breaches or "contained"
