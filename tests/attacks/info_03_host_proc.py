# attack: read the host's /proc: other pids, the server's and nsjail's command lines, sockets; /proc/1 must be the jail's own wrapper
# category: info
# expect: status=200 result="contained"
import os

SERVER_PORT = @@SERVER_PORT@@


def main():
    breaches = []
    pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
    if pids != [1]:
        breaches.append("visible pids: %r" % pids[:50])
    cmdline = open("/proc/1/cmdline", "rb").read().split(b"\0")
    if cmdline[0] != b"/venv/bin/python3":
        breaches.append("/proc/1/cmdline is %r" % cmdline[:3])
    status = dict(line.split(":", 1) for line in open("/proc/1/status") if ":" in line)
    if status["PPid"].strip() != "0" or os.getppid() != 0:
        breaches.append("pid 1 has a visible parent: %s" % status["PPid"].strip())
    for pid in pids:
        for what in ("cmdline", "comm"):
            try:
                text = open("/proc/%d/%s" % (pid, what), "rb").read()
            except OSError:
                continue
            for word in (b"nsjail", b"python-script-api", b"cargo", b"sshd", b"systemd", b"containerd"):
                if word in text:
                    breaches.append("/proc/%d/%s mentions %s" % (pid, what, word.decode()))
    # The host's sockets: the server's listening port must not appear in the jail's socket tables.
    port_hex = (":%04X" % SERVER_PORT).encode()
    for table in ("tcp", "tcp6", "udp", "udp6", "raw", "unix", "packet"):
        try:
            rows = open("/proc/net/" + table, "rb").read().splitlines()[1:]
        except OSError:
            continue
        if port_hex in b"\n".join(rows):
            breaches.append("the server's port is in /proc/net/" + table)
        if rows:
            breaches.append("/proc/net/%s has %d rows" % (table, len(rows)))
    for path in ("/proc/0", "/proc/%d" % (pids[-1] + 1000)):
        if os.path.exists(path):
            breaches.append(path + " exists")
    return breaches or "contained"
