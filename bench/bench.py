#!/usr/bin/python3
"""The measuring half of `make bench` (bench/bench.sh starts and stops the server).

In one run, on this machine:
  1. baselines: bare Python spawned from this process (the unsandboxed floor), and nsjail called
     directly (a cold jailed run), sequential latency and spawn rate at 2 parallel;
  2. the service over HTTP: sequential latency (this script, one keep-alive connection), throughput
     at 1, 2, 4 and 16 concurrent clients (wrk), status mix, server and sandbox memory;
  3. the ratios of issues 6 and 19 against their target bars;
  4. issue 18: the cold p50 of a hello world in each language (python, javascript, r, bash) through
     the service, against that interpreter's bare start from here, in the same run.
Results go to bench/results/<date>.json and, as a dated table, to bench/README.md.
Debian's /usr/bin/python3, standard library only.
"""

import argparse
import datetime
import http.client
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QUICK = os.environ.get("BENCH_QUICK") == "1"  # a smoke run of the harness itself, not a measurement
# The isolation profile of the servers and the jailed baselines: unset, the server's default (auto);
# "container" measures Cloud Run's profile (no user namespace) on this host. Results of a profile
# other than the default are written and titled apart (<date>-<profile>.json).
PROFILE = os.environ.get("BENCH_PROFILE", "")
if PROFILE not in ("", "auto", "standard", "container"):
    sys.exit(f"BENCH_PROFILE={PROFILE!r}: expected auto, standard or container")
LABEL = "" if PROFILE in ("", "auto") else PROFILE

# The workloads. Each is a script for the service; the bare baselines run the same text followed by
# BARE_SUFFIX, which calls main() and prints its result as JSON, as the service's runner does.
WORKLOADS = [
    {
        "name": "hello",
        "title": "hello world",
        "script": 'def main():\n    print("hello world")\n    return {"answer": 42}\n',
        "seq": 80,
        "secs": 5,
    },
    {
        "name": "pandas",
        "title": "pandas groupby",
        "script": (
            "import numpy as np\n"
            "import pandas as pd\n"
            "def main():\n"
            "    rng = np.random.default_rng(0)\n"
            '    df = pd.DataFrame({"k": rng.integers(0, 100, 100_000), "v": rng.random(100_000)})\n'
            '    g = df.groupby("k")["v"].agg(["sum", "mean", "count"])\n'
            '    return {"groups": len(g), "total": float(g["sum"].sum()), "first": g.iloc[0].to_dict()}\n'
        ),
        "seq": 40,
        "secs": 8,
        "bare_seq": 20,
    },
    {
        "name": "numpy",
        "title": "numpy 200x200 matmul + svd",
        "script": (
            "import numpy as np\n"
            "def main():\n"
            "    rng = np.random.default_rng(0)\n"
            "    a = rng.random((200, 200))\n"
            "    b = a @ a.T\n"
            "    s = np.linalg.svd(b, compute_uv=False)\n"
            "    return {\"largest\": float(s[0]), \"smallest\": float(s[-1])}\n"
        ),
        "seq": 50,
        "secs": 6,
    },
    {
        "name": "print_1mib",
        "title": "print 1 MiB",
        "script": (
            "import sys\n"
            "def main():\n"
            '    sys.stdout.write(("x" * 1023 + "\\n") * 1024)\n'
            "    return 1024\n"
        ),
        "seq": 60,
        "secs": 5,
    },
    # Issue 19: plots. The service returns each figure still open as a PNG (`capture_figures`); the
    # bare baseline draws the same figure but, with no runner, saves nothing.
    {
        "name": "plot",
        "title": "line plot (pyplot, default dpi, returned as a figure)",
        "script": (
            "import matplotlib.pyplot as plt\n"
            "def main():\n"
            "    fig, ax = plt.subplots()\n"
            "    ax.plot(range(100), [x * x for x in range(100)], label=\"squares\")\n"
            "    ax.set_title(\"a line plot\")\n"
            "    ax.legend()\n"
            "    return \"plotted\"\n"
        ),
        "seq": 30,
        "secs": 6,
        "bare_seq": 10,
    },
    {
        "name": "seaborn",
        "title": "seaborn scatter plot (returned as a figure)",
        "script": (
            "import numpy as np\n"
            "import seaborn as sns\n"
            "def main():\n"
            "    rng = np.random.default_rng(0)\n"
            "    x = rng.normal(size=500)\n"
            "    sns.scatterplot(x=x, y=2 * x + rng.normal(size=500))\n"
            "    return \"plotted\"\n"
        ),
        "seq": 20,
        "secs": 6,
        "bare_seq": 6,
    },
]
BARE_SUFFIX = "\nimport json as _json\nprint(_json.dumps(main()))\n"
CONCURRENCY = [1, 2, 4, 16]
RATE_SECS = 5  # each spawn-rate baseline
RATE_PARALLEL = 2

if QUICK:
    for w in WORKLOADS:
        w["seq"], w["secs"] = 6, 2
    RATE_SECS = 2


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def pct(xs, p):
    """Percentile with linear interpolation between the two nearest samples."""
    xs = sorted(xs)
    k = (len(xs) - 1) * p / 100
    f = int(k)
    c = min(f + 1, len(xs) - 1)
    return xs[f] + (xs[c] - xs[f]) * (k - f)


def summary(ms):
    return {"n": len(ms), "p50": pct(ms, 50), "p90": pct(ms, 90), "p99": pct(ms, 99),
            "mean": statistics.fmean(ms), "min": min(ms), "max": max(ms)}


# ---------------------------------------------------------------------------------------------
# Baselines: processes spawned from here.

def jail_env():
    """The environment the jail gives a script (the `envar:` lines of configs/python.cfg), for the bare
    runs too: one BLAS/OpenMP thread, as in the jail (OpenBLAS's default thread pool alone adds about
    50 ms and 140 ms of CPU to `import pandas` on this machine), so that only the sandbox differs."""
    text = Path(os.environ["NSJAIL_CONFIG"]).read_text()
    return dict(m.split("=", 1) for m in re.findall(r'^envar:\s*"([^"]+)"', text, re.M))


BARE_ENV = None  # set in baselines()


def spawn_once(argv):
    t = time.perf_counter()
    p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       env=BARE_ENV)
    ms = (time.perf_counter() - t) * 1000
    if p.returncode != 0:
        raise RuntimeError(f"{argv[0]} exited {p.returncode}: {p.stderr.decode(errors='replace')[-800:]}")
    return ms


def spawn_sequential(argv, n, warmup=2):
    for _ in range(warmup):
        spawn_once(argv)
    return [spawn_once(argv) for _ in range(n)]


def spawn_rate(argv, parallel=RATE_PARALLEL, secs=RATE_SECS):
    """Completed runs per second with `parallel` spawners looping for `secs`."""
    counts = [0] * parallel
    deadline = time.perf_counter() + secs

    def loop(i):
        while time.perf_counter() < deadline:
            spawn_once(argv)
            counts[i] += 1

    t = time.perf_counter()
    threads = [threading.Thread(target=loop, args=(i,)) for i in range(parallel)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return sum(counts) / (time.perf_counter() - t)


def jail_argv(venv, code):
    """nsjail as src/sandbox/nsjail.rs calls it for a 30 s / 256 MiB run, minus what needs the server:
    the result and log fds (--pass_fd 3, --log_fd 4) and the per-run cgroup it attaches."""
    return [
        os.environ["NSJAIL_PATH"], "--config", os.environ["NSJAIL_CONFIG"],
        # The jail's root filesystem (chroot/), read-only, as nsjail.rs gives every jail.
        "--chroot", os.environ["SANDBOX_ROOT"],
        "--time_limit", "30", "--rlimit_cpu", "30", "--rlimit_as", "inf", "--max_cpus", "1",
        # The config has no uid map: nsjail.rs always gives one (the jail's own outside uid).
        # Without it nsjail would map the caller's uid, root. nobody stands in for the jail's uid.
        # The container profile has no user namespace: nsjail switches to that uid itself.
        *(["--disable_clone_newuser"] if PROFILE == "container" else []),
        "--user", "65534:65534:1",
        # The policy's per-mode tail, as nsjail.rs gives a run (RUN_POLICY_TAIL).
        "--seccomp_string", "ERRNO(1) { mount, unshare, setns } DEFAULT ALLOW",
        "--mount", "none:/tmp:tmpfs:size=64m,mode=1777",
        "--bindmount_ro", f"{venv}:/venv",
        "--", "/venv/bin/python3", "-I", "-B", "-c", code,
    ]


def baselines():
    global BARE_ENV
    BARE_ENV = jail_env()
    venv = os.environ["SANDBOX_VENV"]
    vpy = f"{venv}/bin/python3"  # a symlink to /usr/bin/python3.11, with numpy/pandas/scipy
    n_floor = 6 if QUICK else 60
    n_pandas = 6 if QUICK else 30
    out = {}

    def run(key, title, argv, n, rate=True):
        log(f"baseline {key}: {n} sequential" + (f", then {RATE_SECS} s at {RATE_PARALLEL} parallel" if rate else ""))
        r = {"title": title, "argv": argv[:-1] + ["<code>"], **summary(spawn_sequential(argv, n))}
        if rate:
            r["rate2"] = spawn_rate(argv)
        out[key] = r

    run("python_pass", "bare `python3.11 -c pass`", ["/usr/bin/python3.11", "-c", "pass"], n_floor)
    run("python_import_pandas", 'bare `python3 -c "import pandas"` (cold)', [vpy, "-c", "import pandas"], n_pandas)
    for w in WORKLOADS:
        repeat = min(w["seq"], w.get("bare_seq", w["seq"]))
        run(f"bare_{w['name']}", f"bare {w['title']}", [vpy, "-c", w["script"] + BARE_SUFFIX], repeat)
    run("jail_pass", "jailed `python3 -c pass` (nsjail, cold)", jail_argv(venv, "pass"), n_floor // 2 + 10)
    run("jail_import_pandas", 'jailed `python3 -c "import pandas"` (nsjail, cold)', jail_argv(venv, "import pandas"),
        n_pandas)
    return out


# ---------------------------------------------------------------------------------------------
# The service.

class Client:
    """One keep-alive HTTP/1.1 connection; reconnects once if the server closed it."""

    def __init__(self, port):
        self.port = port
        self.conn = None

    def request(self, method, path, body=None):
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
            try:
                t = time.perf_counter()
                self.conn.request(method, path, body, {"Content-Type": "application/json"} if body else {})
                r = self.conn.getresponse()
                data = r.read()
                return r.status, (time.perf_counter() - t) * 1000, data
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise

    def health(self):
        return json.loads(self.request("GET", "/health")[2])

    def wait_idle(self, limit=60):
        """Waits until no slot is busy; returns /health's `queued` then. With every slot free, nothing
        can really be waiting for one: a non-zero count is queue places leaked by cancelled requests."""
        deadline = time.time() + limit
        while time.time() < deadline:
            h = self.health()
            if h["busy"] == 0:
                time.sleep(0.5)
                h = self.health()
                if h["busy"] == 0:
                    return h["queued"]
            time.sleep(0.2)
        raise RuntimeError("the server is still busy 60 s after a load run")


class Server:
    """The release server with default settings, on 127.0.0.1, with a clean environment (so that no
    SANDBOX_* variable of the caller changes its settings); stopped by its PID (SIGTERM, then SIGKILL)."""

    def __init__(self, first_port, cgroup, logfile, extra_env=None):
        self.first_port, self.cgroup, self.logfile = first_port, cgroup, logfile
        self.extra_env = extra_env or {}

    def __enter__(self):
        self.port = free_port(self.first_port)
        env = {k: os.environ[k]
               for k in ("PATH", "HOME", "NSJAIL_PATH", "SANDBOX_VENV", "SANDBOX_ROOT", "NSJAIL_CONFIG")}
        env.update(PORT=str(self.port), HOST="127.0.0.1", SANDBOX_CGROUP=self.cgroup,
                   # The job store of this server alone (never the default under /var/lib).
                   DATA_DIR=str(Path(self.logfile).with_suffix(".data")))
        env.update(self.extra_env)
        if PROFILE:
            env["SANDBOX_PROFILE"] = PROFILE
        self.log = open(self.logfile, "wb")
        self.proc = subprocess.Popen([str(ROOT / "target/release/python-script-api")], cwd=ROOT, env=env,
                                     stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log)
        self.pid = self.proc.pid
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited at start-up; see {self.logfile}")
            try:
                if Client(self.port).request("GET", "/health")[0] == 200:
                    log(f"server pid {self.pid} on 127.0.0.1:{self.port}")
                    return self
            except OSError:
                pass
            time.sleep(0.2)
        self.__exit__()
        raise RuntimeError("the server did not become healthy in 30 s")

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def free_port(first):
    import socket
    for port in range(first, 18400):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
    raise RuntimeError("no free port in 18300-18399")


def proc_status_kib(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


def wrk(port, body_file, conns, secs):
    cmd = ["wrk", "-t", str(min(conns, 2)), "-c", str(conns), "-d", f"{secs}s", "--timeout", "60s",
           "-s", "bench/wrk/post.lua", f"http://127.0.0.1:{port}/execute", "--", str(body_file)]
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    line = next((ln for ln in p.stdout.splitlines() if ln.startswith("WRKJSON ")), None)
    if p.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({p.returncode}): {p.stdout[-1000:]} {p.stderr[-1000:]}")
    j = json.loads(line[len("WRKJSON "):])
    dur = j["duration_us"] / 1e6
    ok = j["statuses"].get("200", 0)
    e = j["errors"]
    return {
        "conns": conns, "secs": dur, "requests": j["requests"], "ok": ok, "ok_per_s": ok / dur,
        "statuses": j["statuses"], "kinds": j["kinds"],
        "socket_errors": e["connect"] + e["read"] + e["write"] + e["timeout"], "errors": e,
        "latency_ms": {k: v / 1000 for k, v in j["latency_us"].items()},
    }


def service(first_port, cgroup, work):
    """Each workload gets a fresh server: a load run that ends with requests still queued leaks queue
    places (see bench/README.md), which would otherwise change the later workloads' numbers."""
    out = {"workloads": {}, "server_rss_kib": {}}
    for w in WORKLOADS:
        with Server(first_port, cgroup, Path(work) / f"server-{w['name']}.log") as server:
            port, pid = server.port, server.pid
            c = Client(port)
            c.wait_idle()
            if not out["server_rss_kib"]:
                time.sleep(1)
                out["server_rss_kib"]["idle"] = proc_status_kib(pid, "VmRSS")
            out["workloads"][w["name"]] = one_workload(w, c, port, pid, work)
    after = [r["server_rss_kib_after"] for r in out["workloads"].values()]
    out["server_rss_kib"]["after_load"] = max(after)
    out["server_rss_kib"]["peak"] = max(r["server_rss_kib_peak"] for r in out["workloads"].values())
    out["executions"] = {}
    for r in out["workloads"].values():
        for k, v in r["executions"].items():
            out["executions"][k] = out["executions"].get(k, 0) + v
    return out


def one_workload(w, c, port, pid, work):
    """Sequential latency, then throughput at each concurrency, against one server."""
    name = w["name"]
    body = json.dumps({"script": w["script"], "timeout": 30, "memory": 256}).encode()
    body_file = Path(work) / f"{name}.json"
    body_file.write_bytes(body)
    log(f"service {name}: {w['seq']} sequential requests")
    for _ in range(2):  # warm-up: page cache, the server's lazily-made state
        c.request("POST", "/execute", body)
    lat, statuses, rss, cpu, srv = [], {}, [], [], []
    for _ in range(w["seq"]):
        status, ms, data = c.request("POST", "/execute", body)
        statuses[str(status)] = statuses.get(str(status), 0) + 1
        lat.append(ms)
        if status == 200:
            j = json.loads(data)
            rss.append(j["usage"]["max_rss_kib"])
            cpu.append(j["usage"]["cpu_time_ms"])
            srv.append(j["duration_ms"])
    r = {"title": w["title"], "seq": {**summary(lat), "statuses": statuses},
         "sandbox_max_rss_kib_median": statistics.median(rss) if rss else None,
         "sandbox_cpu_time_ms_median": statistics.median(cpu) if cpu else None,
         "server_duration_ms_median": statistics.median(srv) if srv else None,
         "throughput": {}}
    for conns in CONCURRENCY:
        log(f"service {name}: wrk, {conns} connection(s), {w['secs']} s")
        r["throughput"][str(conns)] = t = wrk(port, body_file, conns, w["secs"])
        t["queued_after"] = c.wait_idle()
    time.sleep(1)
    r["server_rss_kib_after"] = proc_status_kib(pid, "VmRSS")
    r["server_rss_kib_peak"] = proc_status_kib(pid, "VmHWM")
    metrics = c.request("GET", "/metrics")[2].decode()
    r["executions"] = {m.group(1): int(float(m.group(2))) for m in
                       re.finditer(r'^psa_executions_total\{outcome="([^"]+)"\} (\S+)$', metrics, re.M)}
    return r


# Issue 14: sessions. A warm session's trivial cell (bar: p50 <= 1 ms over HTTP), a pandas cell on a
# 100 000-row DataFrame that an earlier cell built, and the memory one idle session holds.
SESSION_SEQ = 20 if QUICK else 300
SESSION_BUILD = ("import numpy as np, pandas as pd\n"
                 "df = pd.DataFrame({'g': np.arange(100_000) % 100, 'v': np.random.rand(100_000)})")
SESSION_PANDAS = "df.groupby('g').v.agg(['sum', 'mean', 'count']).shape"
SESSION_TRIVIAL_BAR_MS = 1.0


def sessions(first_port, cgroup, work):
    """One fresh server: a session, its cells over one keep-alive connection, then an idle session's
    memory (its cgroup, zygote included, as GET /sessions/{id} reports it)."""
    with Server(first_port, cgroup, Path(work) / "server-sessions.log") as server:
        c = Client(server.port)
        c.wait_idle()

        def create():
            status, _, data = c.request("POST", "/sessions", b"{}")
            if status != 201:
                raise RuntimeError(f"POST /sessions: {status} {data[:300]!r}")
            return json.loads(data)["session_id"]

        sid = create()

        def cell(code):
            status, ms, data = c.request("POST", f"/sessions/{sid}/execute", json.dumps({"code": code}).encode())
            if status != 200:
                raise RuntimeError(f"a cell failed: {status} {data[:300]!r}")
            return ms

        log(f"sessions: {SESSION_SEQ} trivial cells, then {SESSION_SEQ // 10} pandas cells")
        for _ in range(5):
            cell("1")
        trivial = [cell("1") for _ in range(SESSION_SEQ)]
        cell(SESSION_BUILD)
        cell(SESSION_PANDAS)
        pandas = [cell(SESSION_PANDAS) for _ in range(max(SESSION_SEQ // 10, 5))]
        idle_id = create()
        time.sleep(1)
        view = json.loads(c.request("GET", f"/sessions/{idle_id}")[2])
        for s in (sid, idle_id):
            c.request("DELETE", f"/sessions/{s}")
    t = summary(trivial)
    return {"trivial_cell": t, "pandas_cell_100k_rows": summary(pandas),
            "idle_session_mib": view["memory_used_bytes"] / (1 << 20),
            "bar": {"ratio": "trivial cell p50 (ms)", "value": t["p50"], "target": f"<= {SESSION_TRIVIAL_BAR_MS}",
                    "met": t["p50"] <= SESSION_TRIVIAL_BAR_MS},
            "cells": {"trivial": "1", "build": SESSION_BUILD, "pandas": SESSION_PANDAS}}


JOBS_N = 10 if QUICK else 100


def jobs(first_port, cgroup, work):
    """One fresh server: hello world as a job (POST /jobs, then GET /jobs/{id}/events, which ends
    with the job's envelope) against the same script through /execute, interleaved one for one, each
    on its own keep-alive connection."""
    hello = next(w["script"] for w in WORKLOADS if w["name"] == "hello")
    body = json.dumps({"script": hello}).encode()
    with Server(first_port, cgroup, Path(work) / "server-jobs.log") as server:
        ex, jb = Client(server.port), Client(server.port)
        ex.wait_idle()

        def execute():
            status, ms, data = ex.request("POST", "/execute", body)
            if status != 200:
                raise RuntimeError(f"/execute: {status} {data[:300]!r}")
            return ms

        def job():
            t = time.perf_counter()
            status, _, data = jb.request("POST", "/jobs", body)
            if status != 202:
                raise RuntimeError(f"POST /jobs: {status} {data[:300]!r}")
            job_id = json.loads(data)["job_id"]
            status, _, data = jb.request("GET", f"/jobs/{job_id}/events")
            ms = (time.perf_counter() - t) * 1000
            if status != 200 or b'"success":true' not in data:
                raise RuntimeError(f"GET /jobs/{job_id}/events: {status} {data[-300:]!r}")
            return ms

        log(f"jobs: {JOBS_N} hello-world jobs, interleaved with {JOBS_N} /execute calls")
        for _ in range(3):
            execute()
            job()
        pairs = [(execute(), job()) for _ in range(JOBS_N)]
    e, j = summary([p[0] for p in pairs]), summary([p[1] for p in pairs])
    return {"execute": e, "job": j, "ratio_p50": j["p50"] / e["p50"], "n": JOBS_N}


# Issue 18: a hello world in each language, cold (SANDBOX_POOL_SIZE=0: nsjail spawned per run, as
# the first run of a language meets it) and on the default path (fork mode: the runner forked from a
# zygote, the interpreter started by it), against the interpreter's bare start from this process.
# The bare commands start the same binaries the jail holds (hard links of the host's).
LANG_SEQ = 6 if QUICK else 40
R_ENV = {"R_HOME": "/usr/lib/R", "R_LIBS_SITE": "/usr/lib/R/site-library"}
LANGUAGES = [
    # (name, hello world for the service, bare argv, extra environment of the bare run)
    ("python", "def main():\n    print('hello')\n", ["/usr/bin/python3.11", "-I", "-c", "print('hello')"], {}),
    ("javascript", "console.log('hello');", ["/usr/bin/node", "-e", "console.log('hello')"], {}),
    ("r", "cat('hello\\n')", ["/usr/lib/R/bin/exec/R", "--vanilla", "--slave", "--no-echo", "-e", "cat('hello\\n')"],
     R_ENV),
    ("bash", "echo hello", ["/usr/bin/bash", "--noprofile", "--norc", "-c", "echo hello"], {}),
]


def languages(first_port, cgroup, work):
    """Per language: bare p50, the service's cold and default p50, and each one's overhead over bare."""
    global BARE_ENV
    if BARE_ENV is None:
        BARE_ENV = jail_env()
    out = {}
    for name, _, argv, extra in LANGUAGES:
        if not Path(argv[0]).exists():
            log(f"languages: {name}: {argv[0]} is not installed, skipped")
            continue
        saved, BARE_ENV = BARE_ENV, {**BARE_ENV, **extra}
        try:
            log(f"languages: bare {name}, {LANG_SEQ} sequential")
            out[name] = {"bare": summary(spawn_sequential(argv, LANG_SEQ)), "bare_argv": argv}
        finally:
            BARE_ENV = saved
    for path, env in (("cold", {"SANDBOX_POOL_SIZE": "0"}), ("default", {})):
        with Server(first_port, cgroup, Path(work) / f"server-languages-{path}.log", env) as server:
            c = Client(server.port)
            c.wait_idle()
            for name, script, _, _ in LANGUAGES:
                if name not in out:
                    continue
                body = json.dumps({"script": script, "language": name}).encode()
                for _ in range(2):
                    c.request("POST", "/execute", body)
                log(f"languages: {path} {name}, {LANG_SEQ} sequential")
                lat = []
                for _ in range(LANG_SEQ):
                    status, ms, data = c.request("POST", "/execute", body)
                    if status != 200:
                        raise RuntimeError(f"{name}: {status} {data[:300]!r}")
                    lat.append(ms)
                r = summary(lat)
                r["overhead_ms"] = r["p50"] - out[name]["bare"]["p50"]
                r["ratio"] = r["p50"] / out[name]["bare"]["p50"]
                out[name][path] = r
    return out


def languages_markdown(langs):
    L = ["Languages (issue 18; hello world, ms: the interpreter's bare start from here, then the service over "
         "HTTP, cold = SANDBOX_POOL_SIZE=0 (nsjail per run), default = fork mode; overhead = p50 - bare p50):", "",
         "| language | bare p50 | cold p50 | cold overhead | cold / bare | default p50 | default overhead |",
         "|---|---:|---:|---:|---:|---:|---:|"]
    for name, r in langs.items():
        c, d = r.get("cold", {}), r.get("default", {})
        L.append(f"| {name} | {f(r['bare']['p50'])} | {f(c.get('p50'))} | {f(c.get('overhead_ms'))} | "
                 f"{f(c.get('ratio'), 2)} | {f(d.get('p50'))} | {f(d.get('overhead_ms'))} |")
    py = langs.get("python", {}).get("cold", {}).get("overhead_ms")
    if py is not None:
        worse = [n for n, r in langs.items() if r.get("cold", {}).get("overhead_ms", 0) > py + 5]
        L.append("")
        L.append("Sandboxing a language should cost no more than it costs Python (cold overhead within 5 ms of "
                 f"Python's {py:.1f} ms): " + ("met" if not worse else "**not met** by " + ", ".join(worse)) + ".")
    L.append("")
    return "\n".join(L)


# ---------------------------------------------------------------------------------------------
# Ratios, report.

def ratios(base, svc):
    wl = svc["workloads"]
    bars = [
        ("hello p50 / bare `python3 -c pass` p50",
         wl["hello"]["seq"]["p50"] / base["python_pass"]["p50"], "<=", 0.5),
        ('pandas p50 / cold `python3 -c "import pandas"` p50',
         wl["pandas"]["seq"]["p50"] / base["python_import_pandas"]["p50"], "<=", 0.05),
        ("hello throughput at 16 / bare hello spawn rate at 2",
         wl["hello"]["throughput"]["16"]["ok_per_s"] / base["bare_hello"]["rate2"], ">=", 1.5),
        ("pandas throughput at 16 / cold jailed pandas rate at 2",
         wl["pandas"]["throughput"]["16"]["ok_per_s"] / base["jail_import_pandas"]["rate2"], ">=", 20),
        ("idle server RSS, MiB", svc["server_rss_kib"]["idle"] / 1024, "<", 30),
    ]
    # Issue 19's: plots in absolute milliseconds, the rest against the same baselines as above.
    bars19 = [
        ("plot p50, ms", wl["plot"]["seq"]["p50"], "<=", 60),
        ("seaborn plot p50, ms", wl["seaborn"]["seq"]["p50"], "<=", 120),
        ("hello p50 / bare `python3 -c pass` p50",
         wl["hello"]["seq"]["p50"] / base["python_pass"]["p50"], "<=", 0.1),
        ("hello throughput at 16 / bare hello spawn rate at 2",
         wl["hello"]["throughput"]["16"]["ok_per_s"] / base["bare_hello"]["rate2"], ">=", 2),
        ("pandas throughput at 16 / cold jailed pandas rate at 2",
         wl["pandas"]["throughput"]["16"]["ok_per_s"] / base["jail_import_pandas"]["rate2"], ">=", 25),
    ]

    def rows(listed):
        out = []
        for name, value, op, target in listed:
            met = {"<=": value <= target, ">=": value >= target, "<": value < target}[op]
            out.append({"ratio": name, "value": value, "target": f"{op} {target}", "met": met})
        return out

    bar_rows, bar_rows19 = rows(bars), rows(bars19)
    other = []
    for w in WORKLOADS:
        n = w["name"]
        b = base[f"bare_{n}"]
        other.append({"ratio": f"{n} p50 / bare {n} p50", "value": wl[n]["seq"]["p50"] / b["p50"]})
        other.append({"ratio": f"{n} throughput at 16 / bare {n} spawn rate at 2",
                      "value": wl[n]["throughput"]["16"]["ok_per_s"] / b["rate2"]})
    other += [
        {"ratio": "hello p50 / jailed `-c pass` p50", "value": wl["hello"]["seq"]["p50"] / base["jail_pass"]["p50"]},
        {"ratio": "pandas p50 / jailed `import pandas` p50",
         "value": wl["pandas"]["seq"]["p50"] / base["jail_import_pandas"]["p50"]},
        {"ratio": "hello throughput at 16 / jailed `-c pass` rate at 2",
         "value": wl["hello"]["throughput"]["16"]["ok_per_s"] / base["jail_pass"]["rate2"]},
        {"ratio": "jailed `-c pass` p50 / bare `-c pass` p50",
         "value": base["jail_pass"]["p50"] / base["python_pass"]["p50"]},
    ]
    return bar_rows, bar_rows19, other


def machine():
    def read(path):
        try:
            return Path(path).read_text()
        except OSError:
            return ""
    cpu = re.search(r"^model name\s*:\s*(.+)$", read("/proc/cpuinfo"), re.M)
    mem = re.search(r"^MemTotal:\s+(\d+)", read("/proc/meminfo"), re.M)
    git = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    git = git.stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "src", "configs", "Cargo.lock"], cwd=ROOT,
                           capture_output=True, text=True).stdout.strip()
    return {
        "cpu": cpu.group(1) if cpu else "?", "cpus": os.cpu_count(),
        "mem_gib": round(int(mem.group(1)) / 1024 / 1024, 1) if mem else None,
        "kernel": platform.release(), "debian": read("/etc/debian_version").strip(),
        "python": subprocess.run(["/usr/bin/python3.11", "-V"], capture_output=True, text=True).stdout.strip(),
        "commit": git + ("+dirty" if dirty else ""),
    }


def f(x, digits=1):
    return "–" if x is None else f"{x:.{digits}f}"


def markdown(res):
    m, base, svc = res["machine"], res["baselines"], res["service"]
    L = []
    L.append(f"### {res['date']}" + (f", {LABEL} profile" if LABEL else ""))
    L.append("")
    L.append(f"Commit {m['commit']}; {m['cpu']}, {m['cpus']} CPUs, {m['mem_gib']} GiB, Linux {m['kernel']}, "
             f"Debian {m['debian']}, {m['python']}. Load average {res['loadavg_start']} at the start, "
             f"{res['loadavg_end']} at the end; the run took {res['elapsed_s']:.0f} s."
             + (" **BENCH_QUICK run: too few samples to compare.**" if res.get("quick") else ""))
    L.append("")
    L.append("Baselines (ms; rate = completed runs per second with 2 spawners):")
    L.append("")
    L.append("| baseline | n | p50 | p90 | p99 | rate at 2 |")
    L.append("|---|---:|---:|---:|---:|---:|")
    for b in base.values():
        L.append(f"| {b['title']} | {b['n']} | {f(b['p50'])} | {f(b['p90'])} | {f(b['p99'])} | {f(b.get('rate2'))}/s |")
    L.append("")
    L.append("The service (sequential latency in ms over one keep-alive connection; throughput = 200 responses "
             "per second with 1, 2, 4, 16 wrk connections; sandbox RSS and CPU = medians of `usage`):")
    L.append("")
    L.append("| workload | p50 | p90 | p99 | 1 | 2 | 4 | 16 | statuses (all runs) | sandbox RSS | sandbox CPU |")
    L.append("|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|")
    for w in svc["workloads"].values():
        s = w["seq"]
        st = dict(s["statuses"])
        errs = 0
        for t in w["throughput"].values():
            for k, v in t["statuses"].items():
                st[k] = st.get(k, 0) + v
            errs += t["socket_errors"]
        mix = ", ".join(f"{k}×{v}" for k, v in sorted(st.items())) + (f", socket errors×{errs}" if errs else "")
        tp = " | ".join(f(w["throughput"][str(c)]["ok_per_s"]) for c in CONCURRENCY)
        rss = w["sandbox_max_rss_kib_median"]
        L.append(f"| {w['title']} | {f(s['p50'])} | {f(s['p90'])} | {f(s['p99'])} | {tp} | {mix} | "
                 f"{f(rss / 1024 if rss else None)} MiB | {f(w['sandbox_cpu_time_ms_median'], 0)} ms |")
    r = svc["server_rss_kib"]
    L.append("")
    L.append(f"Server RSS: {r['idle'] / 1024:.1f} MiB idle, {r['after_load'] / 1024:.1f} MiB after the load, "
             f"peak {r['peak'] / 1024:.1f} MiB. 429s at 16 connections: "
             + ", ".join(f"{n} {w['throughput']['16']['statuses'].get('429', 0)}" for n, w in svc["workloads"].items())
             + ".")
    L.append("")
    L.append("Queue places leaked (/health `queued` with no slot busy, after the runs at 1, 2, 4, 16 connections; "
             "cumulative, one fresh server per workload): "
             + "; ".join(f"{n} " + "/".join(str(w["throughput"][str(c)]["queued_after"]) for c in CONCURRENCY)
                         for n, w in svc["workloads"].items()) + ".")
    L.append("")
    for title, key in (("Issue 6's bars", "bars"), ("Issue 19's bars", "bars_issue19")):
        L.append(f"{title}:")
        L.append("")
        L.append("| ratio | value | target | met |")
        L.append("|---|---:|---|---|")
        for b in res.get(key, []):
            L.append(f"| {b['ratio']} | {b['value']:.3f} | {b['target']} | {'yes' if b['met'] else '**no**'} |")
        L.append("")
    L.append("Other ratios: " + "; ".join(f"{o['ratio']} = {o['value']:.2f}" for o in res["other_ratios"]) + ".")
    L.append("")
    if res.get("languages"):
        L.append(languages_markdown(res["languages"]))
    if res.get("sessions"):
        se = res["sessions"]
        t, pd = se["trivial_cell"], se["pandas_cell_100k_rows"]
        L.append(f"Sessions (issue 14; ms over one keep-alive connection): trivial cell p50 {f(t['p50'], 2)}, "
                 f"p90 {f(t['p90'], 2)} (bar <= {SESSION_TRIVIAL_BAR_MS} ms: "
                 f"{'met' if se['bar']['met'] else '**not met**'}); pandas cell on a 100 000-row DataFrame built "
                 f"by an earlier cell p50 {f(pd['p50'])}, p90 {f(pd['p90'])}; "
                 f"one idle session holds {f(se['idle_session_mib'])} MiB (its cgroup, zygote included).")
        L.append("")
    if res.get("jobs"):
        jo = res["jobs"]
        L.append(f"Jobs (issue 16; hello world, {jo['n']} of each, interleaved): `POST /jobs` to its final event on "
                 f"`GET /jobs/{{id}}/events` p50 {f(jo['job']['p50'], 2)} ms, p90 {f(jo['job']['p90'], 2)}; "
                 f"`/execute` p50 {f(jo['execute']['p50'], 2)} ms, p90 {f(jo['execute']['p90'], 2)}; "
                 f"ratio of the p50s {jo['ratio_p50']:.2f}.")
        L.append("")
    return "\n".join(L)


def update_readme(section):
    path = ROOT / "bench" / "README.md"
    start, end = "<!-- bench-results:start -->", "<!-- bench-results:end -->"
    text = path.read_text() if path.exists() else f"# Benchmarks\n\n## Results\n\n{start}\n{end}\n"
    if start not in text:
        text += f"\n## Results\n\n{start}\n{end}\n"
    head, rest = text.split(start, 1)
    body, tail = rest.split(end, 1)
    # One section per date and profile: a second run on the same day replaces the first.
    heading = section.split("\n", 1)[0] + "\n"
    sections = [s for s in re.split(r"(?m)^(?=### )", body) if s.strip() and not s.startswith(heading)]
    body = "\n" + section + "\n" + "".join(s.rstrip("\n") + "\n\n" for s in sections)
    path.write_text(head + start + body + end + tail)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=18310, help="first port to try")
    ap.add_argument("--cgroup", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--only", choices=["languages"], help="measure only this part (printed, not recorded)")
    a = ap.parse_args()
    if a.only == "languages":
        print(languages_markdown(languages(a.port, a.cgroup, a.work)))
        return

    t0 = time.time()
    date = datetime.date.today().isoformat()
    res = {"date": date, "profile": PROFILE or "auto",
           "started": datetime.datetime.now().isoformat(timespec="seconds"), "quick": QUICK,
           "machine": machine(), "loadavg_start": Path("/proc/loadavg").read_text().split()[0],
           "workloads": {w["name"]: w["script"] for w in WORKLOADS}}
    res["baselines"] = baselines()
    res["bare_env"] = BARE_ENV
    res["service"] = service(a.port, a.cgroup, a.work)
    res["bars"], res["bars_issue19"], res["other_ratios"] = ratios(res["baselines"], res["service"])
    res["sessions"] = sessions(a.port, a.cgroup, a.work)
    res["jobs"] = jobs(a.port, a.cgroup, a.work)
    res["languages"] = languages(a.port, a.cgroup, a.work)
    res["loadavg_end"] = Path("/proc/loadavg").read_text().split()[0]
    res["elapsed_s"] = time.time() - t0

    out = ROOT / "bench" / "results" / f"{date}{'-' + LABEL if LABEL else ''}{'-quick' if QUICK else ''}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2) + "\n")
    section = markdown(res)
    if not QUICK:
        update_readme(section)
    print(section)
    met = sum(b["met"] for b in res["bars"])
    met19 = sum(b["met"] for b in res["bars_issue19"])
    print(f"bench: {met} of {len(res['bars'])} bars of issue 6 met, {met19} of {len(res['bars_issue19'])} of "
          f"issue 19; results in {out.relative_to(ROOT)}"
          + ("" if QUICK else " and bench/README.md"))


if __name__ == "__main__":
    main()
