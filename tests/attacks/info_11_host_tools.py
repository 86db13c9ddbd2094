# attack: look for the host's tools and files (compilers, package managers, network clients, su/sudo, /etc/shadow, docs) that chroot/manifest does not list, and check that the few it lists work
# category: info
# expect: status=200 result="contained"
# The jail's root is the tree built from chroot/: the interpreter, its stdlib, sh and a few tools.
# Whatever the host has installed besides must not be there to run or read, on any host.
import os
import subprocess

# What chroot/manifest gives /usr/bin (python3, python3.11 and the tools it lists).
LISTED = {
    "python3", "python3.11", "sh", "dash", "basename", "cat", "cp", "cut", "date", "dirname", "echo",
    "env", "false", "head", "id", "ls", "mkdir", "mv", "printf", "rm", "sleep", "sort", "tail", "touch",
    "tr", "true", "uniq", "wc", "grep", "find",
}
# What the other languages' manifests add (chroot/manifest.javascript, .r, .bash), when enabled.
LISTED |= {"node", "bash", "which", "which.debianutils"}

HOST_ONLY = [
    "/usr/bin/gcc", "/usr/bin/cc", "/usr/bin/ld", "/usr/bin/make", "/usr/bin/git", "/usr/bin/apt",
    "/usr/bin/apt-get", "/usr/bin/dpkg", "/usr/bin/pip", "/usr/bin/pip3", "/usr/bin/sudo", "/usr/bin/su",
    "/usr/bin/curl", "/usr/bin/wget", "/usr/bin/ssh", "/usr/bin/nc", "/usr/bin/perl",
    "/usr/bin/mount", "/usr/bin/umount", "/usr/bin/dmesg", "/usr/bin/nsenter", "/usr/bin/unshare",
    "/usr/bin/chroot", "/usr/sbin", "/sbin", "/usr/local", "/usr/include", "/usr/share/doc",
    "/usr/share/man", "/usr/lib/gcc", "/usr/lib/python3/dist-packages", "/usr/lib/python3.11/config-3.11-x86_64-linux-gnu",
    "/usr/share/zoneinfo/localtime", "/etc/shadow", "/etc/gshadow", "/etc/sudoers", "/etc/os-release",
    "/etc/debian_version", "/etc/resolv.conf", "/etc/hostname", "/etc/machine-id", "/etc/ssl",
    "/etc/apt", "/etc/localtime", "/etc/ld.so.cache", "/var", "/home", "/root", "/opt", "/srv", "/run",
    "/boot", "/mnt", "/media", "/sys",
]


def main():
    breaches = []
    for path in HOST_ONLY:
        if os.path.lexists(path):
            breaches.append("the host's %s is in the jail" % path)
    extra = sorted(set(os.listdir("/usr/bin")) - LISTED)
    if extra:
        breaches.append("/usr/bin has tools chroot/manifest does not list: %s" % " ".join(extra[:20]))
    # Every file of the tree (the venv's and /dev's nodes aside): none setuid or setgid, none
    # writable by the run.
    for top in ("/usr", "/etc"):
        for base, dirs, files in os.walk(top):
            for name in dirs + files:
                path = os.path.join(base, name)
                if os.lstat(path).st_mode & 0o6000:
                    breaches.append("%s is setuid or setgid" % path)
                if not os.path.islink(path) and os.access(path, os.W_OK):
                    breaches.append("%s is writable" % path)
    # What the manifest lists does work.
    r = subprocess.run(["sh", "-c", "ls /tmp && sleep 0 && cat /etc/hosts | grep -c sandbox"],
                       capture_output=True, text=True, timeout=10)
    if r.returncode != 0 or r.stdout.split() != ["output", "1"]:
        breaches.append("the listed tools failed: %r %r" % (r.stdout[:200], r.stderr[:200]))
    if os.system("true") != 0:
        breaches.append("os.system could not run sh")
    return breaches or "contained"
