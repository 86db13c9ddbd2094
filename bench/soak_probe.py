#!/usr/bin/python3
"""Helpers of bench/soak.sh (Debian's /usr/bin/python3, standard library only).

  soak_probe.py mix FILE                      writes the request mix for bench/wrk/mixed.lua
  soak_probe.py snapshot --pid P --cgroup CG  prints what the server holds now, as JSON
  soak_probe.py report ...                    compares the snapshots, prints the report and the
                                              verdict, writes the JSON result; exit 1 if the bar is missed
"""

import argparse
import datetime
import json
import os
import re
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOBODY = 65534
# Jails run as a uid of their own, from SANDBOX_UID_BASE (default 60000) up; files and the
# gid stay 65534's.
JAIL_UIDS = range(60000, 65534)


def sandbox_uid(uid):
    return uid == NOBODY or uid in JAIL_UIDS
CGROUP_ROOT = Path("/sys/fs/cgroup")
RSS_GROWTH_LIMIT_MIB = 50

# weight, name, body. Expected outcomes: hello and pandas 200; the rest 422 (timeout, memory_limit,
# output_limit, and whatever a fork bomb ends in); 429 when slots and queue are full.
MIX = [
    (30, "hello", {"script": 'def main():\n    print("hello")\n    return {"answer": 42}\n'}),
    (20, "pandas", {"script": (
        "import pandas as pd\n"
        "def main():\n"
        '    df = pd.DataFrame({"k": ["a", "b", "a", "c"] * 2500, "v": range(10000)})\n'
        '    return df.groupby("k")["v"].sum().to_dict()\n')}),
    (10, "timeout", {"script": "import time\ndef main():\n    time.sleep(30)\n", "timeout": 1}),
    (15, "memory", {"script": "def main():\n    return len(bytearray(1 << 30))\n", "memory": 64}),
    (10, "forkbomb", {"script": "import os\ndef main():\n    while True:\n        os.fork()\n", "timeout": 2}),
    (15, "flood", {"script": 'def main():\n    while True:\n        print("x" * 1000)\n'}),
]


def write_mix(path):
    with open(path, "w") as f:
        for weight, name, body in MIX:
            f.write(f"{weight}\t{name}\t{json.dumps(body)}\n")


# ---------------------------------------------------------------------------------------------
# Snapshots

def proc_table():
    """pid -> (ppid, uid, comm, state) for every process we can read."""
    procs = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            stat = Path(f"/proc/{d}/stat").read_text()
            status = Path(f"/proc/{d}/status").read_text()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        state, ppid = stat[stat.rindex(")") + 2:].split()[:2]
        uid = int(re.search(r"^Uid:\s+(\d+)", status, re.M).group(1))
        procs[int(d)] = (int(ppid), uid, comm, state)
    return procs


def descendants(procs, root):
    kids, todo = [], [root]
    while todo:
        p = todo.pop()
        for pid, (ppid, *_rest) in procs.items():
            if ppid == p:
                kids.append(pid)
                todo.append(pid)
    return kids


def cgroup_dirs(cgroup):
    return [CGROUP_ROOT / h / cgroup for h in ("memory", "pids")]


def run_cgroups(cgroup, prefix="run-"):
    return sorted(str(d / e) for d in cgroup_dirs(cgroup) if d.is_dir() for e in os.listdir(d)
                  if e.startswith(prefix))


def in_warm_cgroup(pid):
    """A warm sandbox waiting in the pool (its cgroup is warm-*): the server's, not a leftover."""
    return "/warm-" in (own_cgroup(pid) or "")


def cgroup_procs(cgroup):
    """Every process in our parent cgroup or below it (the server itself is never in it)."""
    pids = set()
    for d in cgroup_dirs(cgroup):
        if d.is_dir():
            for dirpath, _dirs, files in os.walk(d):
                if "cgroup.procs" in files:
                    try:
                        pids.update(int(x) for x in Path(dirpath, "cgroup.procs").read_text().split())
                    except OSError:
                        pass
    return sorted(pids)


def temp_entries():
    """Top-level entries of the host's temp places that a jail could leave: owned by nobody, or nsjail's."""
    found = []
    places = [Path("/tmp"), Path("/dev/shm"), Path("/var/tmp")]
    run_user = Path("/run/user")
    if run_user.is_dir():
        places += [run_user] + [p for p in run_user.iterdir() if p.is_dir()]
    for place in places:
        try:
            entries = list(place.iterdir())
        except OSError:
            continue
        for e in entries:
            try:
                st = e.lstat()
            except OSError:
                continue
            if sandbox_uid(st.st_uid) or e.name.startswith("nsjail"):
                found.append(str(e))
    return sorted(found)


def health(port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as r:
            return json.loads(r.read())
    except Exception as e:  # the server may be gone (after-stop snapshot)
        return {"error": str(e)}


def snapshot(pid, cgroup, port):
    procs = proc_table()
    alive = pid in procs
    snap = {"time": time.time(), "server_alive": alive}
    if alive:
        status = Path(f"/proc/{pid}/status").read_text()
        snap["rss_kib"] = int(re.search(r"^VmRSS:\s+(\d+)", status, re.M).group(1))
        snap["hwm_kib"] = int(re.search(r"^VmHWM:\s+(\d+)", status, re.M).group(1))
        snap["fds"] = len(os.listdir(f"/proc/{pid}/fd"))
        snap["threads"] = int(re.search(r"^Threads:\s+(\d+)", status, re.M).group(1))
        snap["health"] = health(port)
    snap["descendants"] = [[p, *procs[p]] for p in descendants(procs, pid)] if alive else []
    snap["cgroup_procs"] = [[p, *procs.get(p, ("?",))] for p in cgroup_procs(cgroup)]
    snap["run_cgroups"] = run_cgroups(cgroup)
    snap["warm_cgroups"] = run_cgroups(cgroup, "warm-")
    mine = {p for p, *_ in snap["descendants"]} | {p for p, *_ in snap["cgroup_procs"]}
    # The pool's idle sandboxes are expected while the server runs; they are listed, not counted.
    snap["warm_procs"] = sorted(p for p in mine if in_warm_cgroup(p))
    warm = set(snap["warm_procs"])
    snap["descendants"] = [d for d in snap["descendants"] if d[0] not in warm]
    snap["cgroup_procs"] = [c for c in snap["cgroup_procs"] if c[0] not in warm]
    mine -= warm
    nobody = [p for p, v in procs.items() if sandbox_uid(v[1])]
    snap["nobody_procs_ours"] = [[p, *procs[p]] for p in nobody if p in mine]
    # Other servers (other people's test suites) run jails on this host too; listed, not counted.
    snap["nobody_procs_other"] = [[p, *procs[p], own_cgroup(p)] for p in nobody
                                  if p not in mine and p not in warm]
    snap["temp_entries"] = temp_entries()
    return snap


def own_cgroup(pid):
    try:
        for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
            if ":memory:" in line:
                return line.split(":", 2)[2]
    except OSError:
        pass
    return "?"


# ---------------------------------------------------------------------------------------------
# Report

def parse_metrics(text):
    out = {"http": {}, "executions": {}, "buckets": []}
    for m in re.finditer(r'^psa_http_requests_total\{endpoint="/execute",status="(\d+)"\} (\S+)$', text, re.M):
        out["http"][m.group(1)] = int(float(m.group(2)))
    for m in re.finditer(r'^psa_executions_total\{outcome="([^"]+)"\} (\S+)$', text, re.M):
        out["executions"][m.group(1)] = int(float(m.group(2)))
    for m in re.finditer(r'^psa_execution_duration_seconds_bucket\{le="([^"]+)"\} (\S+)$', text, re.M):
        out["buckets"].append((float(m.group(1)), int(float(m.group(2)))))
    return out


def bucket_quantile(buckets, q):
    """Upper bound of the histogram bucket holding quantile q (what Prometheus's estimate bounds)."""
    if not buckets or buckets[-1][1] == 0:
        return None
    target = q * buckets[-1][1]
    for le, count in buckets:
        if count >= target:
            return le
    return float("inf")


def report(a):
    before = json.loads(Path(a.before).read_text())
    after = json.loads(Path(a.after).read_text())
    stopped = json.loads(Path(a.after_stop).read_text())
    wrk_line = next((ln for ln in Path(a.wrk).read_text().splitlines() if ln.startswith("WRKJSON ")), None)
    if wrk_line is None:
        print("soak: FAIL: wrk printed no result (see its output above)")
        return 1
    wrk = json.loads(wrk_line[len("WRKJSON "):])
    metrics = parse_metrics(Path(a.metrics).read_text()) if Path(a.metrics).exists() else parse_metrics("")
    samples = []
    for line in Path(a.samples).read_text().splitlines():
        parts = line.split()
        if len(parts) == 4 and all(p.isdigit() for p in parts):
            samples.append([int(p) for p in parts])  # unix time, VmRSS KiB, fds, direct children

    secs = wrk["duration_us"] / 1e6
    statuses = {k: v for k, v in sorted(wrk["statuses"].items())}
    fivexx = sum(v for k, v in statuses.items() if k.startswith("5"))
    fivexx_metrics = sum(v for k, v in metrics["http"].items() if k.startswith("5"))
    unexpected = {k: v for k, v in statuses.items() if k not in ("200", "422", "429") and not k.startswith("5")}
    e = wrk["errors"]
    lat = {k: v / 1000 for k, v in wrk["latency_us"].items()}
    exec_q = {f"p{int(q * 100)}": bucket_quantile(metrics["buckets"], q) for q in (0.5, 0.95, 0.99)}

    rss_before = before["rss_kib"]
    rss_after = after.get("rss_kib")
    rss_during_max = max([s[1] for s in samples] + [rss_before])
    growth_mib = (rss_after - rss_before) / 1024 if rss_after else None
    leftovers = {
        "processes (server's descendants, our cgroup, jail uids of ours) after the load":
            len({p for p, *_ in after["descendants"] + after["cgroup_procs"] + after["nobody_procs_ours"]}),
        "processes in our cgroup after the server stopped": len(stopped["cgroup_procs"]),
        "run-* cgroups after the load": len(after["run_cgroups"]),
        "run-* cgroups after the server stopped": len(stopped["run_cgroups"]),
        "warm-* cgroups after the server stopped (the pool is drained at shutdown)":
            len(stopped["warm_cgroups"]),
        # One directory per controller hierarchy (memory, pids) for each sandbox: count names.
        "warm-* cgroups after the load beyond the pool's size":
            max(0, len({Path(c).name for c in after["warm_cgroups"]})
                - after.get("health", {}).get("pool_size", 0)),
        "server fds gained (after - before)": max(0, after.get("fds", 0) - before["fds"]),
        "new temp entries (jail uids or nsjail*)":
            len(set(after["temp_entries"]) - set(before["temp_entries"]))
            + len(set(stopped["temp_entries"]) - set(before["temp_entries"])
                  - set(after["temp_entries"])),
    }
    # Not a leftover of a run but of the server's admission: /health's `queued` with no slot busy.
    leaked_queue = after.get("health", {}).get("queued", 0)
    failures = []
    if not after["server_alive"]:
        failures.append("the server died during the soak")
    if fivexx or fivexx_metrics:
        failures.append(f"{max(fivexx, fivexx_metrics)} 5xx")
    bad = {k: v for k, v in leftovers.items() if v}
    if bad:
        failures.append("leftovers: " + "; ".join(f"{k} = {v}" for k, v in bad.items()))
    if leaked_queue:
        failures.append(f"{leaked_queue} queue places leaked (/health queued={leaked_queue} with no slot busy)")
    if growth_mib is None or growth_mib >= RSS_GROWTH_LIMIT_MIB:
        failures.append(f"server RSS grew {growth_mib} MiB (limit {RSS_GROWTH_LIMIT_MIB})")

    P = print
    P("")
    slots = before["health"].get("slots", 0)
    P(f"soak report: {secs:.0f} s of mixed traffic, {a.conns} connections (slots {slots}, "
      f"queue by expected wait, at most {min(32 * slots, 512)} by default), against pid {a.pid}")
    P("  mix (weights): " + ", ".join(f"{n} {w}" for w, n, _ in MIX))
    P(f"  requests answered: {wrk['requests']} ({wrk['requests'] / secs:.1f}/s); status mix: "
      + ", ".join(f"{k}×{v}" for k, v in statuses.items()))
    P("  status + error_type (from bodies): "
      + ", ".join(f"{k}×{v}" for k, v in sorted(wrk["kinds"].items(), key=lambda kv: -kv[1])))
    P("  executions by outcome (GET /metrics): "
      + ", ".join(f"{k}×{v}" for k, v in sorted(metrics["executions"].items(), key=lambda kv: -kv[1])))
    P("  /execute by status (GET /metrics, incl. 499 = client gone): "
      + ", ".join(f"{k}×{v}" for k, v in sorted(metrics["http"].items())))
    P(f"  wrk socket errors: connect {e['connect']}, read {e['read']}, write {e['write']}, timeout {e['timeout']}")
    if unexpected:
        P(f"  unexpected non-5xx statuses: {unexpected}")
    P(f"  latency of every answer (wrk, incl. 429s): p50 {lat['p50']:.0f} ms, p95 {lat['p95']:.0f} ms, "
      f"p99 {lat['p99']:.0f} ms, max {lat['max']:.0f} ms")
    P("  latency of executions (server histogram, bucket upper bounds): "
      + ", ".join(f"{k} ≤ {v} s" for k, v in exec_q.items()))
    P(f"  server RSS: {rss_before / 1024:.1f} MiB before, max {rss_during_max / 1024:.1f} MiB during "
      f"({len(samples)} samples), {rss_after / 1024 if rss_after else float('nan'):.1f} MiB after "
      f"(growth {growth_mib:+.1f} MiB, limit {RSS_GROWTH_LIMIT_MIB}); "
      f"peak VmHWM {after.get('hwm_kib', 0) / 1024:.1f} MiB")
    P(f"  server fds: {before['fds']} before, {after.get('fds')} after, max "
      f"{max([s[2] for s in samples] + [before['fds']])} during; "
      f"threads {before.get('threads')} -> {after.get('threads')}")
    P(f"  warm sandboxes waiting after the load: {len(after['warm_procs'])} processes in "
      f"{len({Path(c).name for c in after['warm_cgroups']})} warm-* cgroups "
      f"(pool size {after.get('health', {}).get('pool_size', '?')})")
    P("  leftovers:")
    for k, v in leftovers.items():
        P(f"    {k}: {v}")
    P(f"  queue places leaked (/health queued with no slot busy, after the load): {leaked_queue}")
    if after["nobody_procs_other"]:
        P(f"  (not ours: {len(after['nobody_procs_other'])} jail-uid processes of other servers on this host, "
          f"cgroups {sorted({p[-1] for p in after['nobody_procs_other']})})")
    for name, snap in (("after the load", after), ("after stop", stopped)):
        for key in ("descendants", "cgroup_procs", "nobody_procs_ours", "run_cgroups"):
            if snap[key]:
                P(f"    {name}, {key}: {snap[key][:10]}")
    # The server's errors, with the request ids that name the kind of request (wrk/mixed.lua).
    errors = [ln for ln in Path(a.server_log).read_text(errors="replace").splitlines()
              if '"severity":"ERROR"' in ln or '"status":5' in ln]
    if errors:
        P(f"  server log, {len(errors)} error lines (first 10):")
        for ln in errors[:10]:
            P("    " + ln[:400])
    new_tmp = sorted(set(after["temp_entries"] + stopped["temp_entries"]) - set(before["temp_entries"]))
    if new_tmp:
        P(f"    new temp entries: {new_tmp[:10]}")

    verdict = "PASS" if not failures else "FAIL"
    line = (f"soak: {verdict}: {wrk['requests']} requests in {secs:.0f} s, {fivexx} 5xx, "
            f"{sum(leftovers.values())} leftovers, {leaked_queue} leaked queue places, "
            f"server RSS {growth_mib:+.1f} MiB"
            + ("" if not failures else " -- " + "; ".join(failures)))
    result = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"), "secs": secs, "conns": a.conns,
        "mix": [[w, n, b] for w, n, b in MIX], "wrk": wrk, "metrics": metrics, "exec_quantiles_s": exec_q,
        "rss_kib": {"before": rss_before, "after": rss_after, "max_during": rss_during_max},
        "server_errors": errors[:50], "samples": samples, "leftovers": leftovers,
        "leaked_queue_places": leaked_queue, "failures": failures, "verdict": line,
        "snapshots": {"before": before, "after": after, "after_stop": stopped},
    }
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(result, indent=1) + "\n")
    P(f"  (JSON: {a.out})")
    P(line)
    return 0 if not failures else 1


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("mix")
    m.add_argument("file")
    s = sub.add_parser("snapshot")
    s.add_argument("--pid", type=int, required=True)
    s.add_argument("--cgroup", required=True)
    s.add_argument("--port", type=int, required=True)
    r = sub.add_parser("report")
    for opt in ("before", "after", "after-stop", "wrk", "metrics", "samples", "server-log", "out"):
        r.add_argument(f"--{opt}", required=True)
    r.add_argument("--pid", type=int, required=True)
    r.add_argument("--conns", type=int, required=True)
    a = ap.parse_args()
    if a.cmd == "mix":
        write_mix(a.file)
    elif a.cmd == "snapshot":
        print(json.dumps(snapshot(a.pid, a.cgroup, a.port)))
    else:
        sys.exit(report(a))


if __name__ == "__main__":
    main()
