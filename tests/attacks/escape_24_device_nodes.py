# attack: raw devices: mknod /dev/mem, a disk block device and /dev/kmsg in /tmp, open host devices, read /proc/kcore
# category: escape
# expect: status=200 result="contained"
import os
import stat

DEVICES = {"mem": (stat.S_IFCHR, 1, 1), "kmem": (stat.S_IFCHR, 1, 2), "port": (stat.S_IFCHR, 1, 4),
           "kmsg": (stat.S_IFCHR, 1, 11), "vda": (stat.S_IFBLK, 254, 0), "sda": (stat.S_IFBLK, 8, 0),
           "tty0": (stat.S_IFCHR, 4, 0)}


def main():
    breaches = []
    for name, (kind, major, minor) in DEVICES.items():
        path = "/tmp/" + name
        try:
            os.mknod(path, kind | 0o666, os.makedev(major, minor))
            breaches.append("mknod %s succeeded" % path)
            try:
                with open(path, "rb") as f:
                    breaches.append("read %d bytes from %s" % (len(f.read(16)), path))
            except OSError:
                pass
        except OSError:
            pass
    for path in ("/dev/mem", "/dev/kmem", "/dev/port", "/dev/kmsg", "/dev/vda", "/dev/sda", "/dev/nvme0n1",
                 "/dev/console", "/dev/tty", "/dev/vsock", "/dev/kvm", "/dev/fuse", "/dev/net/tun", "/proc/kcore",
                 "/proc/kmsg", "/dev/loop0", "/dev/loop-control"):
        try:
            with open(path, "rb", buffering=0) as f:
                data = f.read(16)
            breaches.append("read %d bytes from %s" % (len(data), path))
        except OSError:
            pass
    if sorted(os.listdir("/dev")) != ["null", "random", "shm", "urandom", "zero"]:
        breaches.append("/dev holds %r" % sorted(os.listdir("/dev")))
    return breaches or "contained"
