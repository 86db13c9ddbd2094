# attack: look for host secrets and files: /etc/shadow, ssh keys, cloud credentials, service-account tokens, the host's /tmp (a canary file the test put there)
# category: info
# expect: status=200 result="contained"
import os

CANARY = "@@CANARY@@"
HOST_CANARY_FILE = "@@HOST_CANARY_FILE@@"
SECRETS = ["/etc/shadow", "/etc/gshadow", "/etc/sudoers", "/etc/ssh/ssh_host_rsa_key", "/etc/ssh/ssh_host_ed25519_key",
           "/root/.ssh/id_rsa", "/root/.ssh/authorized_keys", "/root/.bash_history", "/root/.config/gcloud",
           "/root/.aws/credentials", "/root/.docker/config.json", "/root/.cargo/credentials.toml", "/home",
           "/var/run/secrets/kubernetes.io/serviceaccount/token", "/run/secrets", "/etc/machine-id",
           "/etc/hostname", "/etc/resolv.conf", "/etc/environment", "/.dockerenv", "/var/lib", "/var/log",
           "/srv", "/opt", "/mnt", "/boot", "/sys/firmware", "/etc/kubernetes", "/var/lib/kubelet"]


def main():
    breaches = [p + " is visible" for p in SECRETS if os.path.lexists(p)]
    if os.path.lexists(HOST_CANARY_FILE):
        breaches.append("the host's canary file %s is visible" % HOST_CANARY_FILE)
    if sorted(os.listdir("/etc")) != ["group", "hosts", "passwd"]:
        breaches.append("/etc holds %r" % sorted(os.listdir("/etc")))
    # Only the runner's own: an empty output/ and, in a cold run only (a forked run's preloaded
    # matplotlib has read it already), matplotlib's config with the font list from setup.
    if sorted(n for n in os.listdir("/tmp") if n != ".matplotlib") != ["output"] or os.listdir("/tmp/output"):
        breaches.append("/tmp is not as the runner left it at start: %r" % sorted(os.listdir("/tmp"))[:20])
    if os.path.lexists("/tmp/.matplotlib") and [n for n in os.listdir("/tmp/.matplotlib") if not n.startswith("fontlist-")]:
        breaches.append("/tmp/.matplotlib holds %r" % sorted(os.listdir("/tmp/.matplotlib"))[:20])
    # Every file the jail can see outside the system trees: none may hold the canary.
    for top in ("/etc", "/tmp", "/dev/shm"):
        for dirpath, _, files in os.walk(top):
            for name in files:
                path = os.path.join(dirpath, name)
                try:
                    if CANARY.encode() in open(path, "rb").read(1 << 20):
                        breaches.append("the canary is in " + path)
                except OSError:
                    pass
    return breaches or "contained"
