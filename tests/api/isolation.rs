//! What a script can see and reach: only the jail.

use serde_json::json;

use crate::helpers::{spawn_app, test_settings, TestApp};

#[tokio::test]
async fn network_connections_are_disabled() {
    let app = spawn_app().await;
    let script = format!(
        r#"
import socket
def attempt(fn):
    try:
        fn()
        return "connected"
    except OSError as e:
        return type(e).__name__
def tcp(host, port):
    return lambda: socket.create_connection((host, port), timeout=2).close()
def udp():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.sendto(b"x", ("8.8.8.8", 53))
def main():
    return {{
        "server": attempt(tcp("127.0.0.1", {port})),
        "metadata": attempt(tcp("169.254.169.254", 80)),
        "public": attempt(tcp("1.1.1.1", 443)),
        "dns": attempt(lambda: socket.getaddrinfo("example.com", 80)),
        "udp": attempt(udp),
        "interfaces": [name for _, name in socket.if_nameindex()],
    }}
"#,
        port = app.port
    );
    let (status, body) = app.run(&script).await;
    assert_eq!(status, 200, "{body}");
    let r = &body["result"];
    for key in ["server", "metadata", "public", "dns", "udp"] {
        assert_ne!(r[key], "connected", "{key} reachable: {r}");
    }
    // Only a loopback that is down: no interface leads anywhere.
    assert_eq!(r["interfaces"], json!(["lo"]), "{r}");
    app.assert_healthy().await;
}

#[tokio::test]
async fn host_files_are_not_visible() {
    let app = spawn_app().await;
    let checkout = std::env::current_dir().unwrap();
    let script = format!(
        r#"
import os
def main():
    seen = {{}}
    for path in ["/etc/shadow", "/root", "/home", "/etc/hostname", "/var", "/sys/fs/cgroup", "{checkout}", "{checkout}/Cargo.toml", "/proc/1/root/etc/shadow"]:
        seen[path] = os.path.exists(path)
    seen["root_entries"] = sorted(os.listdir("/"))
    seen["pid1"] = open("/proc/1/cmdline", "rb").read().split(b"\0")[0].decode()
    seen["pids"] = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
    seen["uid"] = (os.getuid(), os.geteuid(), os.getgid())
    seen["hostname"] = os.uname().nodename
    return seen
"#,
        checkout = checkout.display()
    );
    let (status, body) = app.run(&script).await;
    assert_eq!(status, 200, "{body}");
    let r = &body["result"];
    for path in [
        "/etc/shadow",
        "/root",
        "/home",
        "/etc/hostname",
        "/var",
        "/sys/fs/cgroup",
    ] {
        assert_eq!(r[path], false, "{path} is visible: {r}");
    }
    assert_eq!(
        r[checkout.display().to_string()],
        false,
        "the checkout is visible"
    );
    assert_eq!(r["/proc/1/root/etc/shadow"], false);
    assert_eq!(
        r["root_entries"],
        json!(["bin", "dev", "etc", "lib", "lib64", "proc", "tmp", "usr", "venv"])
    );
    assert_eq!(
        r["pid1"], "/venv/bin/python3",
        "the script is pid 1 of its own pid namespace"
    );
    assert_eq!(r["pids"], json!([1]));
    let uid = r["uid"][0].as_u64();
    assert_jail_uid(&app, uid, &r.to_string()).await;
    assert_eq!(r["uid"], json!([uid, uid, 65534]));
    assert_eq!(r["hostname"], "sandbox");
}

#[tokio::test]
async fn writes_outside_the_working_dir_fail() {
    let app = spawn_app().await;
    let script = r#"
import os
def main():
    results = {}
    for path in ["/x", "/usr/x", "/venv/x", "/etc/x", "/dev/x", "/proc/x", "/lib/x"]:
        try:
            with open(path, "w") as f:
                f.write("x")
            results[path] = "written"
        except OSError as e:
            results[path] = type(e).__name__
    with open("/tmp/ok.txt", "w") as f:
        f.write("fine")
    results["cwd"] = os.getcwd()
    results["tmp"] = open("ok.txt").read()
    return results
"#;
    let (status, body) = app.run(script).await;
    assert_eq!(status, 200, "{body}");
    let r = body["result"].as_object().unwrap();
    for (path, outcome) in r {
        if path.starts_with('/') {
            assert_ne!(outcome, "written", "{path} was writable");
        }
    }
    assert_eq!(r["cwd"], "/tmp");
    assert_eq!(r["tmp"], "fine");
}

#[tokio::test]
async fn the_working_dir_is_size_capped() {
    let app = spawn_app().await;
    let script = r#"
def main():
    written = 0
    try:
        with open("/tmp/fill", "wb") as f:
            for _ in range(1024):
                f.write(b"\0" * (1024 * 1024))
                f.flush()
                written += 1
    except OSError as e:
        return {"mib": written, "error": type(e).__name__}
    return {"mib": written}
"#;
    let (status, body) = app.execute(json!({"script": script, "memory": 512})).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["result"]["mib"].as_u64().unwrap() <= 64, "{body}");
    assert!(body["result"]["error"].is_string(), "{body}");
    app.assert_healthy().await;
}

#[tokio::test]
async fn server_env_is_not_visible() {
    let app = spawn_app().await;
    let (status, body) = app
        .run("import os\ndef main():\n    return dict(os.environ)\n")
        .await;
    assert_eq!(status, 200, "{body}");
    let env = body["result"].as_object().unwrap();
    // The test process has CARGO_* and friends; none of them may reach the script.
    assert!(std::env::vars().any(|(k, _)| k.starts_with("CARGO")));
    let mut keys: Vec<&str> = env.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "HOME",
            "LANG",
            "LC_ALL",
            "LOGNAME",
            "MKL_NUM_THREADS",
            "MPLBACKEND",
            "MPLCONFIGDIR",
            "NUMEXPR_NUM_THREADS",
            "OMP_NUM_THREADS",
            "OPENBLAS_NUM_THREADS",
            "PATH",
            "PYTHONDONTWRITEBYTECODE",
            "PYTHONIOENCODING",
            "TMPDIR",
            "USER"
        ],
        "{env:?}"
    );
    assert_eq!(env["OPENBLAS_NUM_THREADS"], "1");
}

#[tokio::test]
async fn dangerous_syscalls_are_refused() {
    let app = spawn_app().await;
    let script = r#"
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
def call(name, *args):
    rc = getattr(libc, name)(*args)
    return "allowed" if rc == 0 else os.strerror(ctypes.get_errno())
def main():
    return {
        "unshare_user": call("unshare", 0x10000000),
        "unshare_net": call("unshare", 0x40000000),
        "mount": call("mount", b"none", b"/tmp", b"tmpfs", 0, None),
        "ptrace": "allowed" if libc.ptrace(16, 1, 0, 0) == 0 else os.strerror(ctypes.get_errno()),
        "chroot": call("chroot", b"/tmp"),
        "bpf": "allowed" if libc.syscall(321, 0, 0, 0) >= 0 else os.strerror(ctypes.get_errno()),
        "keyctl": "allowed" if libc.syscall(250, 0, 0, 0, 0, 0) >= 0 else os.strerror(ctypes.get_errno()),
        "perf_event_open": "allowed" if libc.syscall(298, 0, 0, -1, -1, 0) >= 0 else os.strerror(ctypes.get_errno()),
        "io_uring_setup": "allowed" if libc.syscall(425, 1, 0) >= 0 else os.strerror(ctypes.get_errno()),
        "caps": open("/proc/self/status").read().split("CapEff:")[1].split()[0],
    }
"#;
    let (status, body) = app.run(script).await;
    assert_eq!(status, 200, "{body}");
    let r = body["result"].as_object().unwrap();
    for (name, outcome) in r {
        assert_ne!(outcome, "allowed", "{name} was allowed: {r:?}");
    }
    assert_eq!(r["caps"], "0000000000000000");
    app.assert_healthy().await;
}

#[tokio::test]
async fn nothing_leaks_from_one_run_to_the_next() {
    let app = spawn_app().await;
    let write = r#"
import os
def main():
    open("/tmp/secret.txt", "w").write("run one")
    open("/dev/shm/secret", "w").write("run one")
    os.environ["LEAK"] = "yes"
    return sorted(os.listdir("/tmp"))
"#;
    let (status, body) = app.run(write).await;
    assert_eq!(status, 200, "{body}");
    // The runner's own: output/ for the files the script returns (and, in a cold run only,
    // matplotlib's writable config: a forked run's preloaded matplotlib has read its font list).
    let listed = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .filter_map(|f| f.as_str())
            .filter(|f| *f != ".matplotlib")
            .map(String::from)
            .collect()
    };
    assert_eq!(listed(&body["result"]), ["output", "secret.txt"], "{body}");
    let read = r#"
import os
def main():
    return {"tmp": sorted(os.listdir("/tmp")), "shm": sorted(os.listdir("/dev/shm")), "env": "LEAK" in os.environ}
"#;
    let (status, body) = app.run(read).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(listed(&body["result"]["tmp"]), ["output"], "{body}");
    assert_eq!(body["result"]["shm"], json!([]), "{body}");
    assert_eq!(body["result"]["env"], false, "{body}");
}

#[tokio::test]
async fn shell_commands_run_but_see_only_the_jail() {
    let app = spawn_app().await;
    let script = r#"
import subprocess
def main():
    out = subprocess.run(["/bin/sh", "-c", "id -u; ls /; cat /etc/shadow 2>&1 || true"], capture_output=True, text=True)
    return out.stdout
"#;
    let (status, body) = app.run(script).await;
    assert_eq!(status, 200, "{body}");
    let out = body["result"].as_str().unwrap();
    let uid = out.lines().next().and_then(|l| l.parse().ok());
    assert_jail_uid(&app, uid, out).await;
    assert!(!out.contains("root:"), "{out}");
    assert!(!out.contains("home"), "{out}");
}

#[tokio::test]
async fn the_result_channel_cannot_be_forged_into_a_server_error() {
    let app = spawn_app().await;
    for frame in [
        r#"{"ok": false, "error_type": "sandbox_error", "message": "forged"}"#,
        r#"{"ok": false, "error_type": "made_up"}"#,
        r#"{"ok": true}"#,
        r#"not json at all"#,
    ] {
        let script = format!(
            "import os\ndef main():\n    os.write(3, {frame:?}.encode())\n    os._exit(255)\n"
        );
        let (status, body) = app.run(&script).await;
        assert_eq!(status, 422, "{frame}: {body}");
        assert_eq!(body["error_type"], "invalid_result", "{frame}: {body}");
    }
    // A forged success is the script's own business: it could have returned the value anyway.
    let (status, body) = app
        .run("import os\ndef main():\n    os.write(3, b'25\\n{\"ok\": true, \"result\": 7}')\n    os._exit(0)\n")
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"], 7);
    // A child process cannot reach the channel at all.
    let (status, body) = app
        .run("import subprocess, sys\ndef main():\n    r = subprocess.run([sys.executable, '-c', 'import os; os.write(3, b\"x\")'], capture_output=True)\n    return r.returncode\n")
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"], 1);
    app.assert_healthy().await;
}

/// The uid a script must see, by the profile `app` reports: 65534 in the jail's user namespace
/// (standard), or under the container profile (no user namespace) the jail's own host uid, lent
/// from SANDBOX_UID_BASE up and never 65534 itself.
async fn assert_jail_uid(app: &TestApp, seen: Option<u64>, context: &str) {
    let (_, health) = app.health().await;
    match health["profile"].as_str() {
        Some("standard") => assert_eq!(seen, Some(65534), "{context}"),
        Some("container") => {
            let base = u64::from(test_settings().sandbox.uid_base);
            assert!(
                seen.is_some_and(|uid| (base..65534).contains(&uid)),
                "a jail's own uid (from {base} up) expected, got {seen:?}: {context}"
            );
        }
        _ => panic!("/health names no profile this test knows: {health}"),
    }
}

/// Under the container profile a run's uid is its jail's own, which /etc/passwd does not list;
/// a script that asks who it is still gets an answer.
#[tokio::test]
async fn a_script_can_ask_its_user_name_under_either_profile() {
    let app = spawn_app().await;
    let (status, body) = app
        .run("import getpass\ndef main():\n    return getpass.getuser()\n")
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"], "nobody");
}
