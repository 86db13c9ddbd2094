#!/usr/bin/python3
"""`make soak-jobs` (issue 16): jobs under a sustained, partly hostile load, then an audit.

Two runs, SOAK_SECS each (default 120):
  1. sqlite: one release server with the embedded store;
  2. postgres: two release servers on one PostgreSQL (Debian's, started here as the `postgres` user in
     a temporary directory on a free port), each submitting to, cancelling on and reading from both.
Clients submit a mix (hello, pandas, runtime errors, timeouts, memory-limit hits, fork bombs,
stdout floods), a share of them with a DELETE soon after (queued or running). Every job returns
or prints a token of its own. At the end every job must have ended: lost 0; each claimed at most
once (the store's `attempts`, read directly), cancelled ones never run to an end; each
succeeded job's result is its own token. Then leftovers, per server, as `make soak` counts them
(bench/soak_probe.py): processes, run cgroups, temp entries, fds gained; and after the servers stop.
Exit 1 when a bar is missed. Debian's /usr/bin/python3, standard library only (PostgreSQL is read
through `psql`).
"""

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import soak_probe  # the leftover counts of `make soak`

ROOT = Path(__file__).resolve().parent.parent
SECS = int(os.environ.get("SOAK_SECS", "120"))
CLIENTS = int(os.environ.get("SOAK_CLIENTS", "6"))
CANCEL_SHARE = 0.15


def log(msg):
    print(f"soak-jobs: {msg}", file=sys.stderr, flush=True)


def mix(token):
    """(weight, kind, body, expected status): each script carries `token`."""
    t = json.dumps(token)
    return [
        (30, "hello", {"script": f"def main():\n    print('hello')\n    return {t}\n"}, "succeeded"),
        (10, "pandas", {"script": "import pandas as pd\ndef main():\n"
                                  "    df = pd.DataFrame({'g': [1, 1, 2], 'v': [1.0, 2.0, 3.0]})\n"
                                  f"    df.groupby('g').v.sum()\n    return {t}\n"}, "succeeded"),
        (10, "error", {"script": f"def main():\n    raise ValueError({t})\n"}, "failed"),
        (10, "timeout", {"script": f"import time\ndef main():\n    print({t})\n    time.sleep(30)\n",
                         "timeout": 1}, "failed"),
        (10, "memory", {"script": f"def main():\n    print({t})\n    return len(bytearray(1 << 30))\n",
                        "memory": 64}, "failed"),
        (5, "forkbomb", {"script": f"import os\ndef main():\n    print({t}, flush=True)\n"
                                   "    while True:\n        os.fork()\n", "timeout": 2}, "failed"),
        (5, "flood", {"script": f"def main():\n    while True:\n        print({t} * 100)\n"}, "failed"),
    ]


def call(port, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method,
                                 headers={"Content-Type": "application/json"} if data else {})
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


class Postgres:
    """Debian's PostgreSQL, a cluster of our own in a temporary directory, on a free port."""

    def __enter__(self):
        subprocess.run(["bash", "scripts/setup-postgres.sh"], cwd=ROOT, check=True)
        bins = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"))
        if not bins:
            raise SystemExit("soak-jobs: no PostgreSQL server under /usr/lib/postgresql")
        self.bin = bins[-1].parent
        self.dir = tempfile.mkdtemp(prefix="psa-soak-pg-")
        shutil.chown(self.dir, "postgres", "postgres")
        self.port = soak_free_port(18340)
        data = f"{self.dir}/data"
        self.as_postgres("initdb", "-D", data, "-A", "trust", "-U", "postgres", "--no-sync")
        self.as_postgres("pg_ctl", "-D", data, "-w", "-l", f"{self.dir}/log", "-o",
                         f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off", "start")
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/postgres"
        log(f"PostgreSQL on 127.0.0.1:{self.port}")
        return self

    def as_postgres(self, program, *args):
        subprocess.run(["runuser", "-u", "postgres", "--", str(self.bin / program), *args],
                       check=True, stdout=subprocess.DEVNULL)

    def query(self, sql):
        out = subprocess.run(["runuser", "-u", "postgres", "--", "psql", "-h", "127.0.0.1", "-p", str(self.port),
                              "-U", "postgres", "-At", "-F", "\t", "-c", sql],
                             check=True, capture_output=True, text=True).stdout
        return [line.split("\t") for line in out.splitlines() if line]

    def __exit__(self, *exc):
        try:
            self.as_postgres("pg_ctl", "-D", f"{self.dir}/data", "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


def soak_free_port(first):
    import socket
    for port in range(first, 18400):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
    raise SystemExit("soak-jobs: no free port in 18300-18399")


class Server:
    """The release server, default settings but for the store, its own cgroup parent and DATA_DIR."""

    def __init__(self, name, work, database_url=None):
        self.name, self.work, self.database_url = name, Path(work), database_url
        self.cgroup = f"psa-soakjobs-{os.getpid()}-{name}"

    def start(self):
        self.port = soak_free_port(18350)
        env = {k: os.environ[k] for k in ("PATH", "HOME", "NSJAIL_PATH", "SANDBOX_VENV", "SANDBOX_ROOT",
                                          "NSJAIL_CONFIG")}
        env.update(PORT=str(self.port), HOST="127.0.0.1", SANDBOX_CGROUP=self.cgroup,
                   DATA_DIR=str(self.work / f"data-{self.name}"))
        if self.database_url:
            env["DATABASE_URL"] = self.database_url
        self.log = open(self.work / f"server-{self.name}.log", "wb")
        self.proc = subprocess.Popen([str(ROOT / "target/release/python-script-api")], env=env,
                                     stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log)
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if call(self.port, "GET", "/health")[0] == 200:
                    log(f"server {self.name}: pid {self.proc.pid} on 127.0.0.1:{self.port}")
                    return self
            except OSError:
                pass
            if self.proc.poll() is not None:
                raise SystemExit(f"soak-jobs: server {self.name} exited; see {self.log.name}")
            time.sleep(0.2)
        raise SystemExit(f"soak-jobs: server {self.name} never became healthy")

    def snapshot(self, pg_port=None):
        snap = soak_probe.snapshot(self.proc.pid, self.cgroup, self.port)
        snap["store_fds"] = store_fds(self.proc.pid, self.work / f"data-{self.name}", pg_port)
        return snap

    def stop(self):
        if not hasattr(self, "proc"):
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if not self.log.closed:
            self.log.close()
        for h in ("memory", "pids", "cpu"):
            try:
                os.rmdir(f"/sys/fs/cgroup/{h}/{self.cgroup}")
            except OSError:
                pass


def load(servers, secs):
    """`CLIENTS` clients, each submitting the mix to the servers in turn and waiting for each job's end
    before the next, a share cancelled soon after through the other server, for `secs`."""
    submitted, refused, lock = {}, {}, threading.Lock()
    stop_at = time.time() + secs

    def client(i):
        rng = random.Random(i)
        n = 0
        while time.time() < stop_at:
            n += 1
            token = f"t{i}-{n}"
            weight, kind, body, expected = rng.choices(mix(token), weights=[m[0] for m in mix(token)])[0]
            server = servers[(i + n) % len(servers)]
            status, answer = call(server.port, "POST", "/jobs", body)
            if status != 202:
                with lock:
                    refused[status] = refused.get(status, 0) + 1
                time.sleep(0.2)
                continue
            job_id = answer["job_id"]
            cancelled = rng.random() < CANCEL_SHARE
            with lock:
                submitted[job_id] = {"kind": kind, "token": token, "expected": expected, "cancel": cancelled}
            if cancelled:
                time.sleep(rng.choice([0, 0.01, 0.1, 0.5]))
                # Through the other server when there are two: the cancel crosses instances.
                other = servers[(i + n + 1) % len(servers)]
                status, _ = call(other.port, "DELETE", f"/jobs/{job_id}")
                if status != 200:
                    with lock:
                        refused[f"DELETE {status}"] = refused.get(f"DELETE {status}", 0) + 1
            # A closed loop, as wrk's connections: the next job once this one has ended, so
            # that the load is CLIENTS jobs at a time, whatever the machine's pace.
            deadline = time.time() + 300
            while time.time() < deadline:
                status, job = call(server.port, "GET", f"/jobs/{job_id}")
                if status != 200 or job["status"] not in ("queued", "running"):
                    break
                time.sleep(0.05)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return submitted, refused


def audit(servers, submitted, attempts):
    """Every job ended, none lost, none run twice, each succeeded job answered its own token."""
    problems, statuses = [], {}
    deadline = time.time() + 300
    pending = set(submitted)
    finals = {}
    while pending and time.time() < deadline:
        for job_id in list(pending):
            status, job = call(servers[len(finals) % len(servers)].port, "GET", f"/jobs/{job_id}")
            if status == 200 and job["status"] not in ("queued", "running"):
                finals[job_id] = job
                pending.discard(job_id)
        if pending:
            time.sleep(1)
    if pending:
        problems.append(f"{len(pending)} jobs still queued or running 300 s after the load")
    for job_id, job in finals.items():
        want = submitted[job_id]
        status = job["status"]
        statuses[f"{want['kind']}:{status}"] = statuses.get(f"{want['kind']}:{status}", 0) + 1
        if status == "lost":
            problems.append(f"job {job_id} ({want['kind']}) lost: {job.get('message')}")
        elif status == "cancelled":
            if not want["cancel"]:
                problems.append(f"job {job_id} cancelled without a DELETE")
        elif status != want["expected"]:
            problems.append(f"job {job_id} ({want['kind']}): {status}, expected {want['expected']}: "
                            f"{json.dumps(job.get('envelope'))[:300]}")
        elif status == "succeeded" and job["envelope"]["result"] != want["token"]:
            problems.append(f"job {job_id} answered {job['envelope']['result']!r}, not its token {want['token']}")
        if attempts.get(job_id, 0) > 1:
            problems.append(f"job {job_id} was claimed {attempts[job_id]} times")
    return statuses, problems


def store_fds(pid, data_dir, pg_port):
    """The server's fds that are its store's connections: SQLite's files under its DATA_DIR, or TCP
    sockets to PostgreSQL's port. The pools open them as the load needs (at most 4 for SQLite, 8 for
    PostgreSQL) and keep them: counted apart from leaks."""
    remote = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            remote[fields[9]] = int(fields[2].rsplit(":", 1)[1], 16)
    count = 0
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return 0
    for fd in fds:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith(str(data_dir)):
            count += 1
        elif target.startswith("socket:[") and pg_port and remote.get(target[8:-1]) == pg_port:
            count += 1
    return count


def leftovers(before, after, stopped):
    counts = {
        "processes after the load": len({p for p, *_ in after["descendants"] + after["cgroup_procs"]
                                         + after["nobody_procs_ours"]}),
        "processes after the server stopped": len(stopped["cgroup_procs"]),
        "run-* cgroups after the load": len(after["run_cgroups"]),
        "run-* cgroups after the server stopped": len(stopped["run_cgroups"]),
        "server fds gained (not the store's connections)": max(
            0, after.get("fds", 0) - after["store_fds"] - before.get("fds", 0) + before["store_fds"]
        ),
        "new temp entries": len(set(after["temp_entries"]) - set(before["temp_entries"]))
        + len(set(stopped["temp_entries"]) - set(before["temp_entries"]) - set(after["temp_entries"])),
    }
    return counts


def run(store, work, pg=None):
    log(f"{store}: {SECS} s, {CLIENTS} clients")
    servers = [Server(f"{store}-{n}", work, pg.url if pg else None) for n in range(2 if pg else 1)]
    try:
        return soak(store, work, servers, pg)
    finally:
        for s in servers:
            s.stop()


def soak(store, work, servers, pg):
    for s in servers:
        s.start()
    # One job on each before the first snapshot: what the server allocates once is not a leak.
    for s in servers:
        status, job = call(s.port, "POST", "/jobs", {"script": "def main():\n    return 1\n"})
        while call(s.port, "GET", f"/jobs/{job['job_id']}")[1]["status"] in ("queued", "running"):
            time.sleep(0.1)
    time.sleep(1)
    pg_port = pg.port if pg else None
    before = [s.snapshot(pg_port) for s in servers]
    t0 = time.time()
    submitted, refused = load(servers, SECS)
    log(f"{store}: {len(submitted)} jobs submitted; refused: {refused or 'none'}")
    if pg:
        attempts = {row[0]: int(row[1]) for row in pg.query("SELECT id, attempts FROM jobs")}
    else:
        attempts = {}
    statuses, problems = audit(servers, submitted, attempts)
    if not pg:
        import sqlite3
        db = sqlite3.connect(work / f"data-{servers[0].name}" / "jobs.sqlite3")
        attempts = dict(db.execute("SELECT id, attempts FROM jobs"))
        db.close()
        problems += [f"job {j} was claimed {n} times" for j, n in attempts.items() if j in submitted and n > 1]
    elapsed = time.time() - t0
    time.sleep(3)
    after = [s.snapshot(pg_port) for s in servers]
    for s in servers:
        s.stop()
    time.sleep(1)
    stopped = [soak_probe.snapshot(s.proc.pid, s.cgroup, s.port) for s in servers]
    left = [leftovers(b, a, st) for b, a, st in zip(before, after, stopped, strict=True)]
    for s, counts in zip(servers, left, strict=True):
        bad = {k: v for k, v in counts.items() if v}
        if bad:
            problems.append(f"server {s.name} leftovers: {bad}")
    fivexx = sum(v for k, v in refused.items() if str(k).split()[-1].startswith("5"))
    if fivexx:
        problems.append(f"{fivexx} 5xx answers")
    return {"store": store, "servers": len(servers), "secs": SECS, "elapsed_s": round(elapsed, 1),
            "jobs": len(submitted), "cancels_sent": sum(1 for j in submitted.values() if j["cancel"]),
            "refused": {str(k): v for k, v in refused.items()}, "statuses": dict(sorted(statuses.items())),
            "max_attempts_seen": max(attempts.values(), default=0), "leftovers": left,
            "store_connections": [[b["store_fds"], a["store_fds"]] for b, a in zip(before, after, strict=True)],
            "problems": problems}


def main():
    # SIGTERM (a timeout, a Ctrl-C'd make) unwinds as an exit: the servers and PostgreSQL are stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    for var in ("NSJAIL_PATH", "SANDBOX_VENV", "SANDBOX_ROOT", "NSJAIL_CONFIG"):
        if var not in os.environ:
            raise SystemExit(f"soak-jobs: {var} is unset (run through `make soak-jobs`)")
    work = Path(tempfile.mkdtemp(prefix="soak-jobs-", dir=ROOT / "bench" / ".work"))
    results = [run("sqlite", work)]
    with Postgres() as pg:
        results.append(run("postgres", work, pg))
    out = ROOT / "bench" / "results" / f"soak-jobs-{time.strftime('%Y-%m-%d')}-{SECS}s.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1) + "\n")
    failed = False
    for r in results:
        print(f"{r['store']} ({r['servers']} server(s), {r['secs']} s): {r['jobs']} jobs, "
              f"{r['cancels_sent']} cancels sent; {r['statuses']}; most claims of one job "
              f"{r['max_attempts_seen']}; refused {r['refused'] or 'none'}; the store's fds before and after "
              f"the load, per server: {r['store_connections']}")
        for p in r["problems"][:30]:
            print(f"  PROBLEM: {p}")
        failed |= bool(r["problems"])
    print(f"soak-jobs: {'FAILED' if failed else 'passed'}; results in {out.relative_to(ROOT)}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
