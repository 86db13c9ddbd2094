# attack: find out who the jail really runs as on the host: /proc/self/uid_map and gid_map, /proc/self/status, loginuid
# Standard profile: uid 65534 inside, mapped to the jail's own host uid (60000 and up, below 65534).
# Container profile: no user namespace (the identity map), so that host uid is also the uid inside.
# category: info
# expect: status=200 result="contained"
import os


def outside(map_path, inside_id):
    """The host id that an id of this namespace maps to, from a uid_map/gid_map."""
    for line in open(map_path):
        first, lower, count = (int(x) for x in line.split())
        if first <= inside_id < first + count:
            return lower + (inside_id - first)
    return None


JAIL_UIDS = range(60000, 65534)  # SANDBOX_UID_BASE's default range


def main():
    breaches = []
    status = dict(line.split(":", 1) for line in open("/proc/self/status") if ":" in line)
    uids = [int(x) for x in status["Uid"].split()]
    gids = [int(x) for x in status["Gid"].split()]
    identity = open("/proc/self/uid_map").read().split() == ["0", "0", "4294967295"]
    inside = os.getuid() if identity else 65534
    if set(uids) != {inside} or set(gids) != {65534} or (identity and inside not in JAIL_UIDS):
        breaches.append("ids inside: uid %r gid %r" % (uids, gids))
    host_uid = outside("/proc/self/uid_map", os.getuid())
    host_gid = outside("/proc/self/gid_map", os.getgid())
    if host_uid not in JAIL_UIDS or host_gid != 65534:
        breaches.append("runs as uid %r gid %r on the host" % (host_uid, host_gid))
    if outside("/proc/self/uid_map", 0) not in (None, 0):
        breaches.append("root inside maps to host uid %r" % outside("/proc/self/uid_map", 0))
    if outside("/proc/self/uid_map", 0) == 0 and open("/proc/self/uid_map").read().split()[2] != "4294967295":
        breaches.append("root of the host is mapped in: %r" % open("/proc/self/uid_map").read())
    return breaches or "contained"
