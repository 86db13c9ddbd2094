# attack: read the kernel log (host addresses, other tenants' messages): /dev/kmsg, /proc/kmsg, syslog(2), dmesg
# category: info
# expect: status=200 result="contained"
import ctypes
import os
import subprocess

libc = ctypes.CDLL(None, use_errno=True)


def main():
    breaches = []
    for path in ("/dev/kmsg", "/proc/kmsg", "/var/log/kern.log", "/var/log/syslog"):
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
            try:
                data = os.read(fd, 256)
                breaches.append("read %d bytes of %s" % (len(data), path))
            except OSError:
                pass
            os.close(fd)
        except OSError:
            pass
    buf = ctypes.create_string_buffer(1 << 16)
    n = libc.klogctl(3, buf, len(buf))  # SYSLOG_ACTION_READ_ALL
    if n > 0:
        breaches.append("klogctl read %d bytes: %r" % (n, buf.raw[:80]))
    for dmesg in ("/usr/bin/dmesg", "/bin/dmesg"):
        if os.path.exists(dmesg):
            r = subprocess.run([dmesg], capture_output=True, timeout=5)
            if r.returncode == 0 and r.stdout:
                breaches.append("dmesg printed %d bytes: %r" % (len(r.stdout), r.stdout[:80]))
            break
    return breaches or "contained"
