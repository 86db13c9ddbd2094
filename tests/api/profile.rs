//! `SANDBOX_PROFILE=auto` (issue 13, part 2): the profile a server uses is decided at start-up by
//! running one jail of the standard profile, and /health says which profile, what was asked for,
//! and why. Both branches run for real: the standard one on this host, where user namespaces
//! work, and the container one through an nsjail that a seccomp filter refuses user namespaces,
//! as a container runtime's default profile does. The rule itself (and the case where no jail
//! starts at all) is `ProfileSetting::resolve`'s unit test in src/sandbox/settings.rs.
//!
//! Not here: the container profile's own isolation (the whole suite runs again under it) and
//! fork mode (fork.rs).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use python_script_api::sandbox::{PoolMode, ProfileSetting};
use serde_json::Value;

use crate::helpers::{spawn_app_with, test_settings, unique, TestApp};
use crate::pool::{pool_counter, wait_ready};

/// A hello world and a pandas script, end to end: the server started under auto really works.
async fn runs_scripts(app: &TestApp) {
    let (status, body) = app.run("def main():\n    return 'hello'\n").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"], "hello");
    let (status, body) = app
        .run("import pandas as pd\ndef main():\n    return int(pd.Series([1, 2, 3]).sum())\n")
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"], 6);
}

async fn healthy(app: &TestApp) -> Value {
    let (status, health) = app.health().await;
    assert_eq!(status, 200, "{health}");
    health
}

#[tokio::test]
async fn auto_picks_the_standard_profile_where_user_namespaces_work() {
    let app = spawn_app_with(|s| {
        s.sandbox.profile = ProfileSetting::Auto;
        s.sandbox.pool_size = 1;
        s.sandbox.pool_mode = None;
    })
    .await;
    let health = healthy(&app).await;
    assert_eq!(health["profile_setting"], "auto", "{health}");
    assert_eq!(
        health["profile"], "standard",
        "user namespaces work on the machines this suite runs on (developers' and CI's), so \
         auto must pick the standard profile; the server's log says why the probe failed: {health}"
    );
    let reason = health["profile_reason"].as_str().unwrap_or_default();
    assert!(reason.contains("user namespaces work"), "{health}");
    // The default pool mode: fork where it can (x86_64, with cgroups).
    if health["limiter"] != "rlimits" {
        let mode = PoolMode::default();
        assert_eq!(health["pool_mode"], mode.as_str(), "{health}");
        wait_ready(&app, 1).await;
    }
    runs_scripts(&app).await;
    app.assert_no_leftovers().await;
}

/// The real nsjail, started under a seccomp filter that refuses user namespaces the way a
/// container runtime's default profile does (Docker's refuses `clone` and `unshare` with
/// CLONE_NEWUSER; `clone3`, whose flags a filter cannot read, gets ENOSYS so that callers fall
/// back to `clone`). Everything else nsjail does is allowed, so the container profile works under
/// it. The filter is installed by the venv's Python (ctypes), which then execs nsjail: nothing is
/// compiled, and the server runs it as it runs nsjail.
struct RefusingNsjail {
    dir: PathBuf,
    path: PathBuf,
}

impl RefusingNsjail {
    fn new(real: &Path, venv: &Path) -> RefusingNsjail {
        if !cfg!(target_arch = "x86_64") {
            panic!("the seccomp filter of this test is written for x86_64: it cannot run here");
        }
        let dir = std::env::temp_dir().join(unique("psa-userns-refused"));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("nsjail");
        let python = venv.join("bin/python3");
        let script = format!(
            r#"#!{python} -I
import ctypes, os, struct, sys
REAL = {real:?}
LD, JEQ, JSET, RET = 0x20, 0x15, 0x45, 0x06
ALLOW, ERRNO = 0x7FFF0000, 0x00050000
CLONE_NEWUSER, EPERM, ENOSYS = 0x10000000, 1, 38
def op(code, k, jt=0, jf=0):
    return struct.pack("HBBI", code, jt, jf, k)
prog = b"".join([
    op(LD, 4), op(JEQ, 0xC000003E, 1, 0), op(RET, ALLOW),  # x86_64 only
    op(LD, 0),
    op(JEQ, 435, 0, 1), op(RET, ERRNO | ENOSYS),  # clone3
    op(JEQ, 56, 2, 0), op(JEQ, 272, 1, 0), op(RET, ALLOW),  # clone, unshare
    op(LD, 16), op(JSET, CLONE_NEWUSER, 0, 1), op(RET, ERRNO | EPERM), op(RET, ALLOW),
])
class Fprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_char_p)]
fprog = Fprog(len(prog) // 8, prog)
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(22, 2, ctypes.byref(fprog), 0, 0) != 0:  # PR_SET_SECCOMP, SECCOMP_MODE_FILTER
    sys.exit("cannot install the seccomp filter: errno %d" % ctypes.get_errno())
os.execv(REAL, [REAL] + sys.argv[1:])
"#,
            python = python.display(),
            real = real.display().to_string(),
        );
        std::fs::write(&path, script).expect("wrapper written");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
            .expect("wrapper made executable");
        RefusingNsjail { dir, path }
    }
}

impl Drop for RefusingNsjail {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test]
async fn auto_picks_the_container_profile_where_user_namespaces_are_refused() {
    let sandbox = test_settings().sandbox;
    let nsjail = RefusingNsjail::new(&sandbox.nsjail_path, &sandbox.venv_path);
    // Proof that the filter refuses what the standard profile needs: a standard-profile server
    // behind it cannot start a jail.
    let refused = spawn_app_with(|s| {
        s.sandbox.nsjail_path = nsjail.path.clone();
        s.sandbox.profile = ProfileSetting::Standard;
        s.sandbox.pool_size = 0;
    })
    .await;
    let (status, body) = refused.health().await;
    assert_eq!(status, 503, "the filter let a standard jail start: {body}");
    drop(refused);

    // The defaults, as an image runs them: auto, and the default pool mode, which is fork under
    // the container profile too (its zygote is root there, and each child drops to the jail's
    // uid: fork.rs checks what a run holds).
    let app = spawn_app_with(|s| {
        s.sandbox.nsjail_path = nsjail.path.clone();
        s.sandbox.profile = ProfileSetting::Auto;
        s.sandbox.pool_size = 1;
        s.sandbox.pool_mode = None;
    })
    .await;
    let health = healthy(&app).await;
    assert_eq!(health["profile_setting"], "auto", "{health}");
    assert_eq!(health["profile"], "container", "{health}");
    let reason = health["profile_reason"].as_str().unwrap_or_default();
    assert!(reason.contains("refused"), "{health}");
    assert!(!reason.contains('/'), "a host path in /health: {health}");
    if health["limiter"] != "rlimits" {
        assert_eq!(
            health["pool_mode"],
            PoolMode::default().as_str(),
            "{health}"
        );
        wait_ready(&app, 1).await;
    }
    runs_scripts(&app).await;
    if health["pool_mode"] == "fork" {
        assert_eq!(
            pool_counter(&app, "psa_pool_zygote_starts_total").await,
            1,
            "the zygote under the refusing filter was replaced: it cannot fork a child"
        );
    }
    app.assert_no_leftovers().await;
}
