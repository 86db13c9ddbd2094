//! The operator's import policy (issue 11, part 8): IMPORT_DENY or IMPORT_ALLOW, enforced inside
//! the jail when an import runs, on every way a run gets its sandbox (forked from a zygote, a
//! spawned warm jail, a cold jail), and reported by /validate before anything runs.

use python_script_api::policy::{ImportPolicy, PolicyKind};
use python_script_api::sandbox::PoolMode;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, spawn_app_with, TestApp};
use crate::pool::{pool_counter, wait_ready};

/// How a run got its sandbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Way {
    Forked,
    Spawned,
    Cold,
}

fn policy(kind: PolicyKind, modules: &[&str]) -> ImportPolicy {
    ImportPolicy {
        kind,
        modules: modules.iter().map(|m| m.to_string()).collect(),
    }
}

fn deny_list() -> ImportPolicy {
    policy(PolicyKind::Deny, &["ctypes", "socket", "subprocess"])
}

/// One server per way a run can get its sandbox under the profile being tested, each with
/// `policy`.
async fn servers(policy: Option<ImportPolicy>) -> Vec<(Way, TestApp)> {
    let ways = [Way::Forked, Way::Spawned, Way::Cold];
    let mut apps = Vec::new();
    for way in ways {
        let policy = policy.clone();
        let app = spawn_app_with(|s| {
            s.sandbox.import_policy = policy;
            (s.sandbox.pool_size, s.sandbox.pool_mode) = match way {
                Way::Forked => (1, Some(PoolMode::Fork)),
                Way::Spawned => (1, Some(PoolMode::Spawn)),
                Way::Cold => (0, Some(PoolMode::Spawn)),
            };
        })
        .await;
        if way == Way::Forked {
            let (_, health) = app.health().await;
            assert_eq!(health["pool_mode"], "fork", "{health}");
        }
        apps.push((way, app));
    }
    apps
}

/// Runs `script` and checks that it took the way it was meant to: a warm run must be a pool hit
/// (in spawn mode only a script that imports a preloaded module takes one, so every script here
/// imports numpy), a cold one must not.
async fn run(way: Way, app: &TestApp, script: &str) -> (u16, Value) {
    if way != Way::Cold {
        wait_ready(app, 1).await;
    }
    let hits = pool_counter(app, "psa_pool_hits_total").await;
    let (status, body) = app.run(script).await;
    let warm = pool_counter(app, "psa_pool_hits_total").await > hits;
    assert_eq!(
        warm,
        way != Way::Cold,
        "{way:?}: the run took the wrong way"
    );
    (status, body)
}

/// A refused import: 403 policy_violation naming the module, with the script's traceback up to
/// the import's line (and none of the runner's frames).
fn assert_refused(way: Way, status: u16, body: &Value, module: &str, line: &str) {
    assert_eq!(status, 403, "{way:?}: {body}");
    assert_eq!(body["error_type"], "policy_violation", "{way:?}: {body}");
    assert_eq!(
        body["error"],
        format!("the import of `{module}` is refused by this server's import policy"),
        "{way:?}"
    );
    let traceback = body["traceback"].as_str().unwrap_or_default();
    assert!(
        traceback.contains("File \"script.py\"") && traceback.contains(line),
        "{way:?}: the traceback does not show `{line}`: {traceback}"
    );
    assert!(
        !traceback.contains("<runner"),
        "{way:?}: runner frames: {traceback}"
    );
}

#[tokio::test]
async fn a_deny_list_refuses_each_way_of_importing() {
    for (way, app) in servers(Some(deny_list())).await {
        let cases = [
            ("import numpy\nimport ctypes\n\ndef main():\n    return 1\n", "ctypes", "import ctypes"),
            (
                "import numpy\nfrom socket import socket\n\ndef main():\n    return 1\n",
                "socket",
                "from socket import socket",
            ),
            (
                "import numpy, importlib\n\ndef main():\n    importlib.import_module('subprocess')\n",
                "subprocess",
                "importlib.import_module('subprocess')",
            ),
            (
                "import numpy\n\ndef main():\n    return __import__('subprocess').run\n",
                "subprocess",
                "__import__('subprocess')",
            ),
            // A submodule is covered by its package, and a module the preloaded libraries
            // imported long ago (numpy imports ctypes) is refused all the same.
            (
                "import numpy\n\ndef main():\n    import ctypes.util\n",
                "ctypes.util",
                "import ctypes.util",
            ),
            (
                "import numpy\n\ndef main():\n    from importlib import import_module\n    return import_module('.util', 'ctypes')\n",
                "ctypes.util",
                "import_module('.util', 'ctypes')",
            ),
        ];
        for (script, module, line) in cases {
            let (status, body) = run(way, &app, script).await;
            assert_refused(way, status, &body, module, line);
        }
        // What the list does not name is untouched: `os` does not cover `os2`-like names, and
        // numpy still uses its own ctypes (a library's imports are its own).
        let (status, body) = run(
            way,
            &app,
            "import numpy, os.path, json\n\ndef main():\n    return [numpy.ctypeslib.as_ctypes(numpy.array([1], dtype=numpy.int32))[0], json.dumps(os.path.join('a', 'b'))]\n",
        )
        .await;
        assert_eq!(status, 200, "{way:?}: {body}");
        assert_eq!(body["result"], json!([1, "\"a/b\""]), "{way:?}");
        // An import that fails for another reason is the runtime_error it always was, and the
        // hook leaves no frame of its own in the traceback.
        let (status, body) = run(
            way,
            &app,
            "import numpy\nimport nosuchmodule_xyz\n\ndef main():\n    return 1\n",
        )
        .await;
        assert_eq!(status, 422, "{way:?}: {body}");
        assert_eq!(body["error_type"], "runtime_error", "{way:?}");
        let traceback = body["traceback"].as_str().unwrap_or_default();
        assert!(
            traceback.contains("line 2") && !traceback.contains("<runner"),
            "{way:?}: {traceback}"
        );
        app.assert_healthy().await;
        app.assert_no_leftovers().await;
    }
}

#[tokio::test]
async fn a_caught_refusal_leaves_the_script_without_the_module() {
    for (way, app) in servers(Some(deny_list())).await {
        // Caught: the script carries on, without the module (the optional-dependency pattern).
        let script = "import numpy\ntry:\n    import ctypes\nexcept ImportError as e:\n    refusal = (type(e).__name__, isinstance(e, ModuleNotFoundError), e.name)\n\ndef main():\n    return ['ctypes' in globals(), *refusal]\n";
        let (status, body) = run(way, &app, script).await;
        assert_eq!(status, 200, "{way:?}: {body}");
        assert_eq!(
            body["result"],
            json!([false, "ImportPolicyError", true, "ctypes"]),
            "{way:?}"
        );
        // Caught and turned into another error: the run failed because of the refusal.
        let script = "import numpy\n\ndef main():\n    try:\n        import socket\n    except ImportError:\n        raise RuntimeError('this script needs the network')\n";
        let (status, body) = run(way, &app, script).await;
        assert_refused(way, status, &body, "socket", "import socket");
        assert!(
            body["traceback"]
                .as_str()
                .unwrap_or_default()
                .contains("RuntimeError: this script needs the network"),
            "{way:?}: {body}"
        );
        app.assert_healthy().await;
        app.assert_no_leftovers().await;
    }
}

#[tokio::test]
async fn an_allow_list_refuses_what_it_does_not_name() {
    let allow = policy(PolicyKind::Allow, &["numpy", "pandas", "math"]);
    for (way, app) in servers(Some(allow)).await {
        // pandas' own imports (dateutil, its C extensions, what a groupby loads lazily) are its
        // own: only the script's imports must be on the list. A cold jail imports pandas afresh.
        let script = "from __future__ import annotations\nimport numpy\nimport pandas as pd\nimport math\n\ndef main():\n    df = pd.DataFrame({'k': ['a', 'b', 'a'], 'v': [1.0, 2.0, 3.0]})\n    return {'sum': df.groupby('k').v.sum().to_dict(), 'root': math.sqrt(4.0)}\n";
        let (status, body) = run(way, &app, script).await;
        assert_eq!(status, 200, "{way:?}: {body}");
        assert_eq!(
            body["result"],
            json!({"sum": {"a": 4.0, "b": 2.0}, "root": 2.0}),
            "{way:?}"
        );
        for (script, module, line) in [
            (
                "import numpy\nimport json\n\ndef main():\n    return 1\n",
                "json",
                "import json",
            ),
            (
                "import numpy\nfrom scipy import stats\n\ndef main():\n    return 1\n",
                "scipy.stats",
                "from scipy import stats",
            ),
            (
                "import numpy\nimport os\n\ndef main():\n    return 1\n",
                "os",
                "import os",
            ),
        ] {
            let (status, body) = run(way, &app, script).await;
            assert_refused(way, status, &body, module, line);
        }
        app.assert_healthy().await;
        app.assert_no_leftovers().await;
    }
}

/// What /validate finds in the source is what the jail refuses when the import runs, with the
/// same message and line: src/policy.rs and src/sandbox/policy.py implement the same rule.
#[tokio::test]
async fn validate_lists_refused_imports_with_their_lines() {
    /// Import lines, and the module refused (None: allowed).
    type Imports = &'static [(&'static str, Option<&'static str>)];
    let cases: [(ImportPolicy, Imports); 4] = [
        (
            deny_list(),
            &[
                ("import ctypes", Some("ctypes")),
                ("import os, socket as s", Some("socket")),
                ("from subprocess import run", Some("subprocess")),
                ("import ctypes.util", Some("ctypes.util")),
                ("import json, os", None),
            ],
        ),
        (
            policy(PolicyKind::Deny, &["scipy.stats"]),
            &[
                ("from scipy import linalg, stats", Some("scipy.stats")),
                ("from scipy import linalg", None),
            ],
        ),
        (
            policy(PolicyKind::Allow, &["numpy", "scipy.stats"]),
            &[
                ("from scipy import stats", None),
                ("import scipy.linalg", Some("scipy.linalg")),
                ("import numpy.linalg, json", Some("json")),
            ],
        ),
        (
            policy(PolicyKind::Allow, &["numpy"]),
            &[(
                "from __future__ import annotations\nimport numpy.linalg",
                None,
            )],
        ),
    ];
    for (policy, scripts) in cases {
        let app = spawn_app_with(|s| {
            s.sandbox.import_policy = Some(policy.clone());
            s.sandbox.pool_size = 0;
        })
        .await;
        for &(imports, refused) in scripts {
            let script = format!("{imports}\n\ndef main():\n    return 1\n");
            let (status, body) = app.validate(&script).await;
            assert_eq!(status, 200, "{body}");
            // A finding is not an error: /execute does not refuse by source.
            assert_eq!(body["valid"], true, "{imports}: {body}");
            let (run_status, run_body) = app.run(&script).await;
            let Some(module) = refused else {
                assert_eq!(body["refused_imports"], json!([]), "{imports}");
                assert_eq!(run_status, 200, "{imports}: {run_body}");
                continue;
            };
            let line = imports.lines().count();
            let message =
                format!("the import of `{module}` is refused by this server's import policy");
            let found = &body["refused_imports"];
            assert_eq!(found.as_array().map(Vec::len), Some(1), "{imports}: {body}");
            assert_eq!(
                (&found[0]["line"], &found[0]["module"], &found[0]["message"]),
                (&json!(line), &json!(module), &json!(message)),
                "{imports}"
            );
            assert_eq!(run_status, 403, "{imports}: {run_body}");
            assert_eq!(run_body["error"], message, "{imports}");
            let traceback = run_body["traceback"].as_str().unwrap_or_default();
            assert!(traceback.contains(&format!("line {line},")), "{traceback}");
        }
    }
}

#[tokio::test]
async fn validate_finds_refused_imports_wherever_they_are() {
    let app = spawn_app_with(|s| s.sandbox.import_policy = Some(deny_list())).await;
    let script = "import json\nimport os, ctypes as c\n\ndef helper():\n    try:\n        from socket import socket\n    except ImportError:\n        pass\n\ndef main():\n    import subprocess\n    return 1\n";
    let (status, body) = app.validate(script).await;
    assert_eq!(status, 200, "{body}");
    let found: Vec<(u64, u64, &str)> = body["refused_imports"]
        .as_array()
        .expect("refused_imports")
        .iter()
        .map(|f| {
            (
                f["line"].as_u64().unwrap(),
                f["column"].as_u64().unwrap(),
                f["module"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        found,
        [(2, 12, "ctypes"), (6, 9, "socket"), (11, 12, "subprocess")]
    );
    assert_eq!(body["valid"], true);
    assert_eq!(body["errors"], json!([]));
}

#[tokio::test]
async fn policy_answers_fit_the_openapi_description() {
    let spec = crate::openapi::spec();
    let app = spawn_app_with(|s| s.sandbox.import_policy = Some(deny_list())).await;
    let script = "import json\nimport ctypes\n\ndef main():\n    return 1\n";
    let (status, body) = app.run(script).await;
    assert_eq!(status, 403, "{body}");
    let schema = crate::openapi::response_schema(&spec, "/execute", "post", status);
    crate::openapi::check(&spec, &schema, &body, "POST /execute 403");
    let (status, body) = app.validate(script).await;
    let schema = crate::openapi::response_schema(&spec, "/validate", "post", status);
    crate::openapi::check(&spec, &schema, &body, "POST /validate with a policy");
    assert_eq!(body["refused_imports"][0]["module"], "ctypes", "{body}");
    // The venv's environment.json is made by `make setup` (scripts/setup-sandbox.sh).
    let (status, body) = app.environment().await;
    assert_eq!(
        status, 200,
        "/environment's import_policy cannot be checked: {body}"
    );
    assert_eq!(
        body["import_policy"],
        json!({"deny": ["ctypes", "socket", "subprocess"]})
    );
    let schema = crate::openapi::response_schema(&spec, "/environment", "get", status);
    crate::openapi::check(&spec, &schema, &body, "GET /environment with a policy");
}

#[tokio::test]
async fn without_a_policy_nothing_is_refused() {
    let app = spawn_app().await;
    assert_eq!(app.health().await.0, 200);
    let script = "import ctypes, socket, subprocess\nimport importlib\n\ndef main():\n    importlib.import_module('ctypes.util')\n    return [ctypes.sizeof(ctypes.c_int), socket.AF_INET.name, __import__('subprocess').__name__]\n";
    let (status, body) = app.run(script).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"], json!([4, "AF_INET", "subprocess"]));
    let (status, body) = app.validate(script).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.get("refused_imports").is_none(),
        "no policy, no field: {body}"
    );
    let (_, body) = app.environment().await;
    assert!(body.get("import_policy").is_none(), "{body}");
}
