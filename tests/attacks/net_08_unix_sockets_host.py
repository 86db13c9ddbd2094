# attack: unix sockets on host paths: docker, containerd, systemd, dbus, nscd, and a listener the test opened in the host's /tmp
# category: net
# expect: status=200 result="contained"
import os
import socket

PATHS = ["@@HOST_UNIX_SOCKET@@", "/var/run/docker.sock", "/run/docker.sock", "/run/containerd/containerd.sock",
         "/run/systemd/private", "/run/systemd/notify", "/run/systemd/journal/socket", "/dev/log",
         "/run/dbus/system_bus_socket", "/var/run/dbus/system_bus_socket", "/var/run/nscd/socket",
         "/run/user/0/bus", "/tmp/.X11-unix/X0", "/run/crio/crio.sock", "/run/podman/podman.sock"]


def main():
    breaches = []
    for path in PATHS:
        if os.path.lexists(path):
            breaches.append(path + " exists")
        for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM, socket.SOCK_SEQPACKET):
            s = socket.socket(socket.AF_UNIX, kind)
            s.settimeout(1)
            try:
                s.connect(path)
                breaches.append("connected to %s" % path)
            except OSError:
                pass
            finally:
                s.close()
    return breaches or "contained"
