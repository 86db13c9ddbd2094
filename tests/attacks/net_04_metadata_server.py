# attack: the cloud metadata server (service-account tokens on Cloud Run): HTTP with Metadata-Flavor: Google by IP and by name, AWS and IPv6 variants
# category: net
# expect: status=200 result="contained"
import time
import urllib.request

URLS = [
    "http://169.254.169.254/computeMetadata/v1/instance/service-accounts/default/token",
    "http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/token",
    "http://metadata/computeMetadata/v1/project/project-id",
    "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
    "http://[fd00:ec2::254]/latest/meta-data/",
    "http://169.254.170.2/v2/credentials",
]


def main():
    breaches = []
    for url in URLS:
        request = urllib.request.Request(url, headers={"Metadata-Flavor": "Google"})
        started = time.monotonic()
        try:
            with urllib.request.urlopen(request, timeout=1) as response:
                breaches.append("%s answered %d: %r" % (url, response.status, response.read(100)))
        except OSError:
            pass
        if time.monotonic() - started > 0.9:
            breaches.append("%s took %.2f s to fail (packets may have left)" % (url, time.monotonic() - started))
    return breaches or "contained"
