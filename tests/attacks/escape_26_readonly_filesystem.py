# attack: write where nothing may be written: /usr, /venv, /bin, /lib, /etc/passwd, /, /dev nodes, core_pattern, sysrq-trigger, chmod/chown of mounted files
# category: escape
# expect: status=200 result="contained"
import os


def main():
    breaches = []
    for path in ("/usr/evil", "/venv/evil", "/venv/bin/python3", "/bin/sh", "/lib/evil", "/lib64/evil", "/evil",
                 "/etc/passwd", "/etc/evil", "/etc/hosts", "/dev/evil", "/proc/evil",
                 "/proc/sys/kernel/core_pattern", "/proc/sysrq-trigger", "/proc/sys/kernel/hostname",
                 "/proc/sys/vm/drop_caches", "/proc/self/oom_score_adj", "/proc/self/attr/current"):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o755)
            try:
                os.write(fd, b"")
            finally:
                os.close(fd)
            breaches.append("opened %s for writing" % path)
        except OSError:
            pass
    # Writing to /dev/urandom is not tested: a read-only mount does not stop writes to a device node, and any
    # user may mix (uncredited) bytes into the kernel's pool. Replacing the node is what must fail.
    for path in ("/dev/urandom", "/dev/null"):
        try:
            os.unlink(path)
            breaches.append("unlinked " + path)
        except OSError:
            pass
    for path in ("/dev/null", "/dev/zero", "/usr/bin/python3.11", "/etc/passwd", "/"):
        try:
            os.chmod(path, 0o4777)
            breaches.append("chmod " + path)
        except OSError:
            pass
        try:
            os.chown(path, 0, 0)
            breaches.append("chown " + path)
        except OSError:
            pass
    for src, dst in (("/tmp", "/evil-link"), ("/etc/passwd", "/usr/evil-link")):
        try:
            os.symlink(src, dst)
            breaches.append("symlink " + dst)
        except OSError:
            pass
    try:
        os.rename("/etc/passwd", "/etc/passwd.old")
        breaches.append("renamed /etc/passwd")
    except OSError:
        pass
    try:
        os.utime("/usr/bin/python3.11", (0, 0))
        breaches.append("utime on /usr")
    except OSError:
        pass
    return breaches or "contained"
