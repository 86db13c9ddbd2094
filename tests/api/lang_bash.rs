//! Bash under the same contract as Python: files and ./output/, input.json and parameters.json,
//! stdout, stderr and the exit code (always reported; a non-zero one is `exited`), the limits, and
//! /validate through `bash -n` in the jail.

use serde_json::json;

use crate::languages::{
    app_with, assert_failure, assert_limits, assert_success, output_file, run_in,
};

#[tokio::test]
async fn bash_gets_its_input_files_and_returns_output_files() {
    let app = app_with("bash").await;
    let script = r#"set -eu
echo "input: $(cat input.json)"
echo "params: $(cat parameters.json)"
echo "warn" >&2
wc -l < data.txt > output/count.txt
ls | sort | tr '\n' ' '
"#;
    let (status, body) = run_in(
        &app,
        "bash",
        script,
        json!({"input": {"n": [1, 2]}, "parameters": {"k": "v"},
               "files": [{"name": "data.txt", "content": "a\nb\nc\n"}]}),
    )
    .await;
    assert_success(status, &body);
    assert_eq!(body["result"], json!(null), "{body}");
    let stdout = body["stdout"].as_str().unwrap();
    assert!(stdout.contains(r#"input: {"n":[1,2]}"#), "{stdout}");
    assert!(stdout.contains(r#"params: {"k":"v"}"#), "{stdout}");
    assert!(
        stdout.contains("data.txt input.json output parameters.json"),
        "{stdout}"
    );
    assert_eq!(body["stderr"], "warn\n", "{body}");
    assert_eq!(output_file(&body, "count.txt"), "3\n");
}

#[tokio::test]
async fn bash_failures_map_to_the_same_error_types() {
    let app = app_with("bash").await;
    let (status, body) = run_in(&app, "bash", "echo before; exit 3", json!({})).await;
    assert_failure(status, &body, "exited");
    assert_eq!(
        (&body["exit_code"], &body["stdout"]),
        (&json!(3), &json!("before\n"))
    );
    let (status, body) = run_in(&app, "bash", "set -e\nnosuchcommand\necho after", json!({})).await;
    assert_failure(status, &body, "exited");
    assert_eq!(body["exit_code"], 127, "{body}");
    assert!(
        body["stderr"]
            .as_str()
            .unwrap()
            .contains("script.sh: line 2: nosuchcommand"),
        "{body}"
    );
    let (status, body) = run_in(
        &app,
        "bash",
        "echo x",
        json!({"files": [{"name": "input.json", "content": "{}"}]}),
    )
    .await;
    assert_failure(status, &body, "validation_error");
    assert_limits(
        &app,
        "bash",
        "while :; do :; done",
        // A bash string that doubles until the cgroup's limit kills it.
        "s=x; while :; do s=$s$s; done",
        "while :; do echo aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa; done",
    )
    .await;
}

#[tokio::test]
async fn bash_validate_uses_bash_n_and_runs_nothing() {
    let app = app_with("bash").await;
    let check = |script: &str| json!({"language": "bash", "script": script}).to_string();
    let (status, body) = app.validate_raw(check("echo ok > /tmp/ran")).await;
    assert_eq!((status, &body["valid"]), (200, &json!(true)), "{body}");
    assert_eq!(body["checked_by"], "bash -n");
    let (status, body) = app.validate_raw(check("echo\nif then fi")).await;
    assert_eq!((status, &body["valid"]), (200, &json!(false)), "{body}");
    assert_eq!(body["errors"][0]["line"], 2, "{body}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("syntax error"),
        "{body}"
    );
    // Were the script run, the check would hit its deadline and say it did not finish.
    let (status, body) = app.validate_raw(check("sleep 100")).await;
    assert_eq!((status, &body["valid"]), (200, &json!(true)), "{body}");
}
