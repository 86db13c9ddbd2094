#!/usr/bin/env python3
"""Replays hostile scripts from tests/attacks/ against a running server, e.g. a container.

tests/attacks.rs runs the corpus against a server it starts itself. This runs the same files, with
the same header rules (tests/attacks/README.md), against a server that is already running: the way
to check that a container's flags (capabilities, seccomp, AppArmor, masked paths) still give a
working, contained sandbox. Run it on the container's host, with the container on the host's
network (`podman run --network=host`), so that the host-side bait below is what the jail would
reach if its own empty network namespace were missing.

Usage: scripts/check-container.py URL [--all | FILE_OR_PATTERN ...] [--canary VALUE]
  URL        e.g. http://127.0.0.1:18080 (the port is also the one the loopback attacks target)
  (default)  the quick set: a fork bomb, memory hogs, the server's own port over loopback, the
             host's addresses, the metadata server, and a thread bomb
  --all      every tests/attacks/*.py, in file-name order
  --canary   the value of PSA_ATTACK_CANARY in the server's environment (pass the same value to
             the container with -e), so that the environment attack can look for it
Prints one line per attack, and `check: N passed, M failed`; exits 0 only if all passed. After each
attack /health must say healthy and a trivial run must succeed. Needs only Python 3's stdlib.
"""

import json
import os
import re
import secrets
import socket
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ATTACKS = ROOT / "tests" / "attacks"
QUICK = [
    "exhaust_01_fork_bomb.py",
    "exhaust_02_thread_bomb.py",
    "exhaust_03_memory_one_big.py",
    "exhaust_07_memory_many_processes.py",
    "net_01_tcp_loopback.py",
    "net_02_host_addresses.py",
    "net_04_metadata_server.py",
]


def request(url, body=None, timeout=120):
    """(status, parsed JSON or raw text, seconds)."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method="GET" if body is None else "POST")
    if body is not None:
        req.add_header("Content-Type", "application/json")
    started = time.monotonic()
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            status, text = r.status, r.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        status, text = e.code, e.read().decode(errors="replace")
    elapsed = time.monotonic() - started
    try:
        return status, json.loads(text), elapsed
    except ValueError:
        return status, text, elapsed


def parse_header(text):
    attack = {"request": {}, "expects": [], "within": None}
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        key, sep, value = line.lstrip("#").partition(":")
        if not sep:
            continue
        key, value = key.strip(), value.strip()
        if key in ("attack", "category"):
            attack[key] = value
        elif key == "request":
            attack["request"] = json.loads(value)
        elif key == "within":
            attack["within"] = float(value)
        elif key == "expect":
            m = re.fullmatch(r"status=(\d+) (result|error_type)=(.*)", value)
            if not m:
                raise ValueError("bad expect line: %r" % value)
            want = json.loads(m.group(3)) if m.group(2) == "result" else m.group(3).split("|")
            attack["expects"].append((int(m.group(1)), m.group(2), want))
    if "attack" not in attack or "category" not in attack or not attack["expects"]:
        raise ValueError("header lacks attack, category or expect")
    return attack


def matches(expect, status, body):
    want_status, kind, want = expect
    if status != want_status or not isinstance(body, dict):
        return False
    if kind == "result":
        return body.get("success") is True and body.get("result") == want
    return body.get("success") is False and body.get("error_type") in want


def host_addresses():
    """The host's non-loopback IPv4 addresses (local routing table) and global IPv6 addresses."""
    found, last = [], None
    for line in Path("/proc/net/fib_trie").read_text().splitlines():
        t = line.strip()
        if t.startswith("|-- "):
            last = t[4:]
        elif t == "/32 host LOCAL" and last:
            if not last.startswith("127.") and last not in found:
                found.append(last)
            last = None
    try:
        for line in Path("/proc/net/if_inet6").read_text().splitlines():
            raw = line.split()[0]
            addr = socket.inet_ntop(socket.AF_INET6, bytes.fromhex(raw))
            if addr != "::1" and not addr.startswith("fe8"):
                found.append(addr)
    except OSError:
        pass
    return found


class Bait:
    """Listeners and a file on the host that no script may reach."""

    def __init__(self, canary):
        self.dir = tempfile.mkdtemp(prefix="check-container.")
        self.canary_file = os.path.join(self.dir, canary + ".secret")
        Path(self.canary_file).write_text(canary)
        self.tcp = socket.socket()
        self.tcp.bind(("0.0.0.0", 0))
        self.tcp.listen()
        self.tcp.setblocking(False)
        self.unix_path = os.path.join(self.dir, "bait.sock")
        self.unix = socket.socket(socket.AF_UNIX)
        self.unix.bind(self.unix_path)
        self.unix.listen()
        self.unix.setblocking(False)
        self.abstract_name = canary + "-abstract"
        self.abstract = socket.socket(socket.AF_UNIX)
        self.abstract.bind("\0" + self.abstract_name)
        self.abstract.listen()
        self.abstract.setblocking(False)

    def connections(self):
        found = []
        for name, s in (("TCP", self.tcp), ("unix", self.unix), ("abstract unix", self.abstract)):
            try:
                s.accept()
                found.append("the host %s listener accepted a connection" % name)
            except BlockingIOError:
                pass
        return found

    def close(self):
        for s in (self.tcp, self.unix, self.abstract):
            s.close()
        for name in os.listdir(self.dir):
            os.unlink(os.path.join(self.dir, name))
        os.rmdir(self.dir)


def abstract_sockets(own):
    names = set()
    for line in Path("/proc/net/unix").read_text().splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 8 and parts[7].startswith("@"):
            names.add(parts[7][1:])
    return [own] + sorted(names)[:40]


def processes_with(marker):
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path("/proc", pid, "cmdline").read_bytes()
        except OSError:
            continue
        if marker.encode() in cmdline and int(pid) != os.getpid():
            found.append(int(pid))
    return found


def healthy(base):
    """None when /health says healthy and a trivial run works, else why not."""
    status, body, _ = request(base + "/health", timeout=30)
    if status != 200 or not isinstance(body, dict) or body.get("status") != "healthy":
        return "/health: %s %.300s" % (status, body)
    status, body, _ = request(base + "/execute", {"script": "def main():\n    return 1"})
    if status != 200 or not isinstance(body, dict) or body.get("result") != 1:
        return "a trivial run: %s %.300s" % (status, body)
    return None


def main(argv):
    args, canary, files = [], None, None
    it = iter(argv)
    for a in it:
        if a == "--canary":
            canary = next(it, None)
        elif a == "--all":
            files = sorted(p.name for p in ATTACKS.glob("*.py"))
        elif a in ("-h", "--help"):
            print(__doc__)
            return 0
        else:
            args.append(a)
    if not args:
        print(__doc__, file=sys.stderr)
        return 2
    base = args[0].rstrip("/")
    if files is None:
        files = args[1:] or QUICK
        files = [f for pat in files
                 for f in sorted(p.name for p in ATTACKS.glob(pat if pat.endswith(".py") else pat + "*.py"))]
    port = urllib.parse.urlsplit(base).port or 80
    canary = canary or "psa-check-canary-" + secrets.token_hex(6)
    bait = Bait(canary)

    # The server may still be starting: wait up to 60 s for /health to answer at all.
    deadline = time.monotonic() + 60
    while True:
        try:
            status, body, _ = request(base + "/health", timeout=30)
            break
        except OSError as e:
            if time.monotonic() > deadline:
                print("health: no answer from %s: %s" % (base, e))
                return 1
            time.sleep(1)
    if isinstance(body, dict):
        print("health: %s status=%s profile=%s limiter=%s pool_mode=%s note=%s" % (
            status, body.get("status"), body.get("profile"), body.get("limiter"),
            body.get("pool_mode"), body.get("limiter_note")))
    else:
        print("health: %s %.300s" % (status, body))

    resolv = Path("/etc/resolv.conf").read_text() if os.path.exists("/etc/resolv.conf") else ""
    subs = {
        "@@SERVER_PORT@@": str(port),
        "@@CHECKOUT@@": str(ROOT),
        "@@CANARY@@": canary,
        "@@HOST_CANARY_FILE@@": bait.canary_file,
        "@@HOST_HOSTNAME@@": Path("/proc/sys/kernel/hostname").read_text().strip(),
        "@@HOST_ADDRS@@": json.dumps(host_addresses()),
        "@@HOST_LISTEN_PORT@@": str(bait.tcp.getsockname()[1]),
        "@@HOST_UNIX_SOCKET@@": bait.unix_path,
        "@@HOST_ABSTRACT_SOCKETS@@": json.dumps(abstract_sockets(bait.abstract_name)),
        "@@HOST_NAMESERVERS@@": json.dumps(
            [ln.split()[1] for ln in resolv.splitlines() if ln.startswith("nameserver") and len(ln.split()) > 1]),
    }
    passed = failed = 0
    try:
        for index, name in enumerate(files):
            source = (ATTACKS / name).read_text()
            problems = []
            try:
                attack = parse_header(source)
            except ValueError as e:
                print("FAIL  %s: bad header: %s" % (name, e))
                failed += 1
                continue
            marker = "psa-check-marker-%d-%d" % (os.getpid(), index)
            script = source.replace("@@MARKER@@", marker)
            for k, v in subs.items():
                script = script.replace(k, v)
            if "@@" in script:
                problems.append("unknown placeholder near %r" % script[script.index("@@"):][:40])
            body = dict(attack["request"], script=script)
            try:
                status, answer, elapsed = request(base + "/execute", body)
            except OSError as e:
                status, answer, elapsed = 0, "request failed: %s" % e, 0.0
            if not any(matches(e, status, answer) for e in attack["expects"]):
                problems.append("expected %s; got %s %.300s" % (
                    " OR ".join("status=%d %s=%s" % e for e in attack["expects"]), status, answer))
            if attack["within"] is not None and elapsed > attack["within"]:
                problems.append("took %.1f s, more than %s" % (elapsed, attack["within"]))
            problems += bait.connections()
            if "@@MARKER@@" in source:
                deadline = time.monotonic() + 2
                while processes_with(marker) and time.monotonic() < deadline:
                    time.sleep(0.05)
                if processes_with(marker):
                    problems.append("processes outlived the run: %s" % processes_with(marker))
            why = healthy(base)
            if why:
                problems.append("after the attack: " + why)
            got = answer.get("error_type") or answer.get("result") if isinstance(answer, dict) else None
            if problems:
                failed += 1
                print("FAIL  %s (%.1f s)\n      %s" % (name, elapsed, "\n      ".join(problems)))
            else:
                passed += 1
                print("ok    %-40s %d %s (%.1f s)" % (name, status, json.dumps(got)[:40], elapsed))
    finally:
        bait.close()
    print("check: %d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
