//! The API contract: what a well-behaved script gets back.

use python_script_api::sandbox::Profile;
use serde_json::json;

use crate::helpers::{spawn_app, test_settings};

#[tokio::test]
async fn hello_world_returns_result_and_stdout() {
    let app = spawn_app().await;
    let (status, body) = app
        .run("def main():\n    print('hello')\n    return {'message': 'hello world'}\n")
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["success"], true);
    assert_eq!(body["result"], json!({"message": "hello world"}));
    assert_eq!(body["stdout"], "hello\n");
    assert_eq!(body["stderr"], "");
    let ts = body["timestamp"].as_str().unwrap();
    assert!(chrono::DateTime::parse_from_rfc3339(ts).is_ok(), "{ts}");
    assert!(body["duration_ms"].is_u64());
    assert!(body["usage"]["cpu_time_ms"].is_u64());
    assert!(body["usage"]["max_rss_kib"].as_u64().unwrap() > 1000);
}

#[tokio::test]
async fn pandas_and_numpy_values_become_json() {
    let app = spawn_app().await;
    let script = r#"
import datetime, decimal
import numpy as np
import pandas as pd

def main():
    df = pd.DataFrame({"city": ["a", "b", "a"], "sales": [10, 20, 30]})
    totals = df.groupby("city")["sales"].sum()
    return {
        "total": int(df["sales"].sum()),
        "by_city": totals,
        "frame": df.head(2),
        "np_int": np.int64(7),
        "np_float": np.float32(0.5),
        "np_bool": np.bool_(True),
        "array": np.arange(3),
        "matrix": np.eye(2),
        "nan": float("nan"),
        "inf": np.inf,
        "when": pd.Timestamp("2024-05-01T12:00:00Z"),
        "nat": pd.NaT,
        "day": datetime.date(2024, 5, 1),
        "money": decimal.Decimal("2.50"),
        "tags": {"b", "a"},
        "pair": (1, 2),
    }
"#;
    let (status, body) = app.run(script).await;
    assert_eq!(status, 200, "{body}");
    let r = &body["result"];
    assert_eq!(r["total"], 60);
    assert_eq!(r["by_city"], json!({"a": 40, "b": 20}));
    assert_eq!(
        r["frame"],
        json!([{"city": "a", "sales": 10}, {"city": "b", "sales": 20}])
    );
    assert_eq!(r["np_int"], 7);
    assert_eq!(r["np_float"], 0.5);
    assert_eq!(r["np_bool"], true);
    assert_eq!(r["array"], json!([0, 1, 2]));
    assert_eq!(r["matrix"], json!([[1.0, 0.0], [0.0, 1.0]]));
    assert_eq!(r["nan"], json!(null));
    assert_eq!(r["inf"], json!(null));
    assert_eq!(r["when"], "2024-05-01T12:00:00+00:00");
    assert_eq!(r["nat"], json!(null));
    assert_eq!(r["day"], "2024-05-01");
    assert_eq!(r["money"], 2.5);
    assert_eq!(r["tags"], json!(["a", "b"]));
    assert_eq!(r["pair"], json!([1, 2]));
}

#[tokio::test]
async fn none_unicode_and_async_main() {
    let app = spawn_app().await;
    let (status, body) = app.run("def main():\n    return None\n").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"], json!(null));

    let (status, body) = app
        .run("def main():\n    print('héllo ✓ 日本')\n    return {'ключ': 'значение 🎉'}\n")
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["stdout"], "héllo ✓ 日本\n");
    assert_eq!(body["result"], json!({"ключ": "значение 🎉"}));

    let (status, body) = app
        .run("import asyncio\nasync def main():\n    await asyncio.sleep(0)\n    return 42\n")
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"], 42);

    // Integers beyond 64 bits survive exactly: the result is passed through as JSON text.
    let text = app
        .client
        .post(format!("{}/execute", app.address))
        .json(&json!({"script": "def main():\n    return 2**80\n"}))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("\"result\":1208925819614629174706176,"),
        "{text}"
    );
}

#[tokio::test]
async fn stdout_that_looks_like_a_result_cannot_change_it() {
    let app = spawn_app().await;
    let script = r#"
import json, sys
def main():
    print('{"success": true, "result": "forged"}')
    print("__RESULT__" + json.dumps({"result": "forged"}))
    sys.stdout.write("a half line without newline")
    return "real"
"#;
    let (status, body) = app.run(script).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"], "real");
    assert_eq!(
        body["stdout"],
        "{\"success\": true, \"result\": \"forged\"}\n__RESULT__{\"result\": \"forged\"}\na half line without newline"
    );
}

#[tokio::test]
async fn top_level_code_runs_once_and_main_once() {
    let app = spawn_app().await;
    let script = "print('top')\ndef main():\n    print('main')\n    return 1\nif __name__ == '__main__':\n    main()\n";
    let (status, body) = app.run(script).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["stdout"], "top\nmain\n");
}

#[tokio::test]
async fn exceptions_report_the_users_own_lines() {
    let app = spawn_app().await;
    let script = "import math\n\ndef helper(x):\n    return 1 / x\n\ndef main():\n    print('before')\n    return helper(0)\n";
    let (status, body) = app.run(script).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["success"], false);
    assert_eq!(body["error_type"], "runtime_error");
    assert_eq!(body["stdout"], "before\n");
    assert!(body["error"]
        .as_str()
        .unwrap()
        .contains("ZeroDivisionError"));
    let tb = body["traceback"].as_str().unwrap();
    assert!(tb.contains("File \"script.py\", line 8, in main"), "{tb}");
    assert!(tb.contains("File \"script.py\", line 4, in helper"), "{tb}");
    assert!(tb.contains("return 1 / x"), "{tb}");
    assert!(
        !tb.contains("<string>") && !tb.contains("runner"),
        "wrapper frames leak: {tb}"
    );

    let (status, body) = app
        .run("raise KeyError('at import')\ndef main():\n    pass\n")
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error_type"], "runtime_error");
    assert!(body["traceback"]
        .as_str()
        .unwrap()
        .contains("line 1, in <module>"));
}

#[tokio::test]
async fn non_serializable_results_are_invalid_result() {
    let app = spawn_app().await;
    for script in [
        "def main():\n    return object()\n",
        "def main():\n    return {'f': lambda: 1}\n",
        "def main():\n    return 1j\n",
        "def main():\n    x = []\n    x.append(x)\n    return x\n",
    ] {
        let (status, body) = app.run(script).await;
        assert_eq!(status, 422, "{script}: {body}");
        assert_eq!(body["error_type"], "invalid_result", "{script}: {body}");
    }
    app.assert_healthy().await;
}

#[tokio::test]
async fn sys_exit_and_os_exit_are_exited() {
    let app = spawn_app().await;
    let (status, body) = app
        .run("import sys\ndef main():\n    print('bye')\n    sys.exit(3)\n")
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error_type"], "exited");
    assert_eq!(body["exit_code"], 3);
    assert_eq!(body["stdout"], "bye\n");

    let (status, body) = app.run("import os\ndef main():\n    os._exit(5)\n").await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error_type"], "exited");
    assert_eq!(body["exit_code"], 5);

    let (status, body) = app
        .run("import ctypes\ndef main():\n    ctypes.string_at(0)\n")
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error_type"], "exited");
    assert!(
        body["error"].as_str().unwrap().contains("signal 11"),
        "{body}"
    );
    app.assert_healthy().await;
}

#[tokio::test]
async fn health_reports_the_sandbox() {
    let app = spawn_app().await;
    let (status, body) = app.health().await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "healthy");
    assert_eq!(body["nsjail_config_exists"], true);
    assert!(body["python_version"].as_str().unwrap().starts_with("3."));
    assert!(chrono::DateTime::parse_from_rfc3339(body["timestamp"].as_str().unwrap()).is_ok());
    // What the pass chose, reported as chosen; under auto, the profile the probe picked, and why.
    let chosen = test_settings().sandbox;
    assert_eq!(body["profile_setting"], chosen.profile.as_str(), "{body}");
    let used = match body["profile"].as_str() {
        Some("standard") => Profile::Standard,
        Some("container") => Profile::Container,
        _ => panic!("no profile used: {body}"),
    };
    if let Some(fixed) = chosen.profile.fixed() {
        assert_eq!(used, fixed, "{body}");
    }
    let reason = body["profile_reason"].as_str().unwrap_or_default();
    assert!(!reason.is_empty(), "{body}");
    // The limiter is what the host offers. A cgroup limiter's parents are where it makes them,
    // and the pool is the one chosen; without cgroups the note says why, and there is no pool.
    if body["limiter"] == "rlimits" {
        let note = body["limiter_note"].as_str().unwrap_or_default();
        assert!(!note.is_empty(), "rlimits without a reason: {body}");
        assert_eq!(body["pool_size"], 0, "{body}");
    } else {
        app.run_parents().await;
        assert_eq!(body["pool_size"], chosen.pool_size, "{body}");
        let mode = chosen.pool_mode.unwrap_or_default();
        assert_eq!(body["pool_mode"], mode.as_str(), "{body}");
    }
}

#[tokio::test]
async fn health_is_unhealthy_without_nsjail_and_execute_is_500() {
    let app = crate::helpers::spawn_app_with(|s| {
        s.sandbox.nsjail_path = "/nonexistent/nsjail".into();
    })
    .await;
    let (status, body) = app.health().await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "unhealthy");
    assert!(
        body["reason"].as_str().unwrap().contains("nsjail"),
        "{body}"
    );
    let (status, body) = app.run("def main():\n    return 1\n").await;
    assert_eq!(status, 500, "{body}");
    assert_eq!(body["error_type"], "sandbox_error");
}

#[tokio::test]
async fn only_the_scripts_own_process_reports_its_result() {
    let app = spawn_app().await;
    let script = "import os, time\ndef main():\n    pid = os.fork()\n    if pid == 0:\n        return 'child'\n    os.waitpid(pid, 0)\n    return 'parent'\n";
    let (status, body) = app.run(script).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"], "parent");
}
