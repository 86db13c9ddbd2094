//! The jail's root filesystem (chroot/, built into SANDBOX_ROOT by the setup script): a run sees
//! exactly that tree, whatever the host has installed, and the data stack works on it. Also what
//! the server does when the tree is missing. Not here: what a run may not do with what it sees
//! (isolation.rs, the attack corpus).

use std::collections::BTreeSet;

use serde_json::{json, Value};

use crate::helpers::{spawn_app, spawn_app_with, test_settings};

/// The jail's `/` after nsjail's mounts: the tree's top level (chroot/manifest), nothing else.
const ROOT_ENTRIES: [&str; 9] = [
    "bin", "dev", "etc", "lib", "lib64", "proc", "tmp", "usr", "venv",
];

/// The tools chroot/manifest lists, besides the interpreter: a script sees these in /usr/bin and
/// no other.
const TOOLS: [&str; 28] = [
    "basename", "cat", "cp", "cut", "dash", "date", "dirname", "echo", "env", "false", "find",
    "grep", "head", "id", "ls", "mkdir", "mv", "printf", "rm", "sh", "sleep", "sort", "tail",
    "touch", "tr", "true", "uniq", "wc",
];

/// What each other language adds to /usr/bin (chroot/manifest.LANGUAGE) when the server under
/// test enables it (SANDBOX_LANGUAGES): its interpreter, and R's `which` (Sys.which()).
fn language_tools() -> BTreeSet<String> {
    use python_script_api::language::Language;
    let mut tools = BTreeSet::new();
    for language in test_settings().sandbox.languages {
        let added: &[&str] = match language {
            Language::Python => &[],
            Language::JavaScript => &["node"],
            Language::R => &["which", "which.debianutils"],
            Language::Bash => &["bash"],
        };
        tools.extend(added.iter().map(|t| t.to_string()));
    }
    tools
}

fn set(items: impl IntoIterator<Item = impl Into<String>>) -> BTreeSet<String> {
    items.into_iter().map(Into::into).collect()
}

fn strings(v: &Value) -> BTreeSet<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|s| {
            s.as_str()
                .unwrap_or_else(|| panic!("not a string: {s}"))
                .to_string()
        })
        .collect()
}

#[tokio::test]
async fn a_run_sees_exactly_the_jails_tree() {
    let app = spawn_app().await;
    let script = r#"
import os

def main():
    return {
        "root": os.listdir("/"),
        "etc": os.listdir("/etc"),
        "dev": os.listdir("/dev"),
        "usr": os.listdir("/usr"),
        "bin": os.listdir("/usr/bin"),
        "passwd": open("/etc/passwd").read(),
        "group": open("/etc/group").read(),
        "hosts": open("/etc/hosts").read(),
        "bin_link": os.readlink("/bin"),
    }
"#;
    let (status, body) = app.run(script).await;
    assert_eq!(status, 200, "{body}");
    let r = &body["result"];
    assert_eq!(strings(&r["root"]), set(ROOT_ENTRIES), "{r}");
    // chroot/etc's three files, nothing of the host's /etc (R's Renviron is chroot/R's, in R_HOME).
    assert_eq!(strings(&r["etc"]), set(["group", "hosts", "passwd"]), "{r}");
    assert_eq!(
        r["passwd"],
        "nobody:x:65534:65534:nobody:/tmp:/usr/sbin/nologin\n"
    );
    assert_eq!(r["group"], "nogroup:x:65534:\n");
    assert_eq!(r["hosts"], "127.0.0.1 localhost sandbox\n");
    // The mount points, each with what nsjail put on it.
    assert_eq!(
        strings(&r["dev"]),
        set(["null", "random", "shm", "urandom", "zero"]),
        "{r}"
    );
    // No sbin, include, local, share/doc...: only what the manifest and the libraries need.
    assert_eq!(
        strings(&r["usr"]),
        set(["bin", "lib", "lib64", "share"]),
        "{r}"
    );
    let mut tools = set(TOOLS);
    tools.extend(set(["python3", "python3.11"]));
    tools.extend(language_tools());
    assert_eq!(strings(&r["bin"]), tools, "{r}");
    assert_eq!(r["bin_link"], "usr/bin");
    app.assert_healthy().await;
}

#[tokio::test]
async fn every_tool_in_the_jail_runs() {
    let app = spawn_app().await;
    // Each tool is run for real: its libraries are in the tree (ldd's closure), or it fails here.
    let script = r#"
import subprocess

def run(argv):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    return [r.returncode, r.stdout[-200:], r.stderr[-200:]]

def main(tools):
    got = {}
    for tool in tools:
        if tool in ("sh", "dash"):
            got[tool] = run([tool, "-c", "echo ok"])
        elif tool in ("true", "false"):
            got[tool] = run([tool])
        else:
            got[tool] = run([tool, "--version"])
    got["pipeline"] = run(["sh", "-c", "ls /tmp; printf 'b\na\nb\n' | sort | uniq | wc -l; sleep 0; id -u"])
    return got
"#;
    let (status, body) = app.execute(json!({"script": script, "input": TOOLS})).await;
    assert_eq!(status, 200, "{body}");
    let got = &body["result"];
    for tool in TOOLS {
        let want = if tool == "false" { 1 } else { 0 };
        assert_eq!(got[tool][0], want, "{tool}: {}", got[tool]);
    }
    assert_eq!(got["sh"][1], "ok\n");
    let pipeline = got["pipeline"][1].as_str().unwrap_or_default();
    assert!(pipeline.contains("output\n2\n"), "{}", got["pipeline"]);
}

#[tokio::test]
async fn the_data_stack_and_the_stdlibs_extension_modules_work_in_the_jail() {
    let app = spawn_app().await;
    // Each extension module needs a shared library from the tree (libssl, libsqlite3, liblzma,
    // libbz2, libz, libffi, libuuid, libmpdec is static); numpy, scipy and matplotlib need libm,
    // libstdc++ and libgcc_s besides their own bundled ones.
    let script = r#"
import bz2, ctypes, datetime, decimal, hashlib, lzma, sqlite3, ssl, subprocess, uuid, zlib, zoneinfo
import numpy as np
import pandas as pd
import scipy.linalg
import matplotlib.pyplot as plt

def main():
    db = sqlite3.connect(":memory:")
    db.execute("create table t (x)")
    db.executemany("insert into t values (?)", [(1,), (2,), (3,)])
    paris = zoneinfo.ZoneInfo("Europe/Paris")
    fig, ax = plt.subplots()
    ax.plot([1, 2, 3], [3, 1, 2])
    fig.savefig("output/plot.png")
    plt.close(fig)
    return {
        "sqlite": db.execute("select sum(x) from t").fetchone()[0],
        "lzma": lzma.decompress(lzma.compress(b"x" * 100)) == b"x" * 100,
        "bz2": bz2.decompress(bz2.compress(b"y" * 100)) == b"y" * 100,
        "zlib": zlib.decompress(zlib.compress(b"z" * 100)) == b"z" * 100,
        "ssl": ssl.OPENSSL_VERSION.startswith("OpenSSL"),
        "sha256": hashlib.sha256(b"").hexdigest()[:8],
        "ctypes": ctypes.CDLL("libc.so.6").getpid() == __import__("os").getpid(),
        "uuid": len(str(uuid.uuid4())),
        "decimal": str(decimal.Decimal("1.1") + decimal.Decimal("2.2")),
        "paris": datetime.datetime(2026, 7, 1, 12, tzinfo=paris).utcoffset().total_seconds(),
        "pandas_tz": str(pd.Timestamp("2026-01-01 12:00", tz="Europe/Paris").tz_convert("UTC")),
        "numpy": float(np.linalg.det(np.array([[2.0, 0.0], [0.0, 3.0]]))),
        "scipy": float(scipy.linalg.inv(np.array([[4.0]]))[0][0]),
        "sleep": subprocess.run(["sleep", "0"]).returncode,
    }
"#;
    let (status, body) = app.run(script).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["result"],
        json!({
            "sqlite": 6, "lzma": true, "bz2": true, "zlib": true, "ssl": true,
            "sha256": "e3b0c442", "ctypes": true, "uuid": 36, "decimal": "3.3",
            "paris": 7200.0, "pandas_tz": "2026-01-01 11:00:00+00:00",
            "numpy": 6.0, "scipy": 0.25, "sleep": 0,
        })
    );
    let files = body["files"].as_array().expect("the plot came back");
    assert_eq!(files.len(), 1, "{body}");
    assert_eq!(files[0]["name"], "plot.png");
    // Nothing complained on the way: no missing library, font or time zone warning.
    assert_eq!(body["stderr"], "", "{body}");
}

#[tokio::test]
async fn without_its_root_filesystem_the_sandbox_is_unhealthy_and_never_uses_the_hosts() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let missing = dir.path().join("no-root-here");
    let app = spawn_app_with(|s| {
        s.sandbox.root_path = missing.clone();
        s.sandbox.pool_size = 0;
    })
    .await;
    let (status, body) = app.health().await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body["reason"]
            .as_str()
            .is_some_and(|r| r.contains("SANDBOX_ROOT")),
        "{body}"
    );
    // A run fails as the sandbox's fault: nsjail has no root to mount, and nothing falls back to
    // the host's /usr.
    let (status, body) = app.run("def main():\n    return 1\n").await;
    assert_eq!(status, 500, "{body}");
    assert_eq!(body["error_type"], "sandbox_error");

    // Once the tree is there (a symlink to the real one), the re-probe finds the sandbox healthy.
    let real = std::fs::canonicalize(test_settings().sandbox.root_path)
        .expect("the jail's root is built (make setup, or SANDBOX_ROOT)");
    std::os::unix::fs::symlink(&real, &missing).expect("symlink to the real root");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while app.health().await.0 != 200 {
        assert!(
            std::time::Instant::now() < deadline,
            "no recovery: {}",
            app.health().await.1
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    assert_eq!(app.run("def main():\n    return 1\n").await.0, 200);
}
