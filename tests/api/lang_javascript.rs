//! JavaScript (Node.js) under the same contract as Python: main(input) (async too) and its value
//! as JSON by the stated rules, input.json and parameters.json, files in and ./output/ out, stdout
//! and stderr, the exit code, a runtime_error with the JavaScript stack, exits, the limits, and
//! /validate with node's own parser in the jail.

use serde_json::json;

use crate::languages::{
    app_with, assert_failure, assert_limits, assert_success, output_file, run_in,
};

#[tokio::test]
async fn javascript_main_gets_the_input_and_returns_json() {
    let app = app_with("javascript").await;
    let script = r#"
const fs = require('fs');
async function main(input) {
  console.log('rows', input.rows.length);
  console.error('to stderr');
  const csv = fs.readFileSync('data.csv', 'utf8');
  fs.writeFileSync('output/upper.txt', csv.toUpperCase());
  await new Promise((resolve) => setTimeout(resolve, 10));
  return {
    sum: input.rows.reduce((a, b) => a + b, 0),
    params: JSON.parse(fs.readFileSync('parameters.json', 'utf8')),
    fromFile: JSON.parse(fs.readFileSync('input.json', 'utf8')).rows,
    big: 2n ** 70n, nan: NaN, undef: undefined, list: [undefined, 1],
    when: new Date(0), map: new Map([['a', 1]]), set: new Set([1, 2]), bytes: new Uint8Array([7]),
    globals: [typeof input_data, parameters.k],
  };
}
"#;
    let (status, body) = run_in(
        &app,
        "javascript",
        script,
        json!({"input": {"rows": [1, 2, 3]}, "parameters": {"k": "v"},
               "files": [{"name": "data.csv", "content": "a,b\n"}]}),
    )
    .await;
    assert_success(status, &body);
    // 2n ** 70n: every digit travels (this client reads it as the nearest f64).
    assert!(body["result"]["big"].is_number(), "{body}");
    assert_eq!(
        body["result"],
        json!({"sum": 6, "params": {"k": "v"}, "fromFile": [1, 2, 3],
               "big": 1180591620717411303424.0, "nan": null, "list": [null, 1],
               "when": "1970-01-01T00:00:00.000Z", "map": {"a": 1}, "set": [1, 2], "bytes": [7],
               "globals": ["object", "v"]}),
        "{body}"
    );
    assert_eq!(
        (&body["stdout"], &body["stderr"]),
        (&json!("rows 3\n"), &json!("to stderr\n"))
    );
    assert_eq!(output_file(&body, "upper.txt"), "A,B\n");

    // Without main the result is null, once the script's own work is done.
    let (status, body) = run_in(
        &app,
        "javascript",
        "setTimeout(() => console.log('later'), 5); console.log('now');",
        json!({}),
    )
    .await;
    assert_success(status, &body);
    assert_eq!(
        (&body["result"], &body["stdout"]),
        (&json!(null), &json!("now\nlater\n"))
    );
    // module.exports.main counts too.
    let (status, body) = run_in(
        &app,
        "javascript",
        "module.exports.main = (x) => x * 2;",
        json!({"input": 21}),
    )
    .await;
    assert_success(status, &body);
    assert_eq!(body["result"], 42);
}

#[tokio::test]
async fn javascript_failures_map_to_the_same_error_types() {
    let app = app_with("javascript").await;
    let script =
        "function inner() { throw new TypeError('bad value'); }\nfunction main() { inner(); }\n";
    let (status, body) = run_in(&app, "javascript", script, json!({})).await;
    assert_failure(status, &body, "runtime_error");
    assert_eq!(body["error"], "TypeError: bad value", "{body}");
    let trace = body["traceback"].as_str().unwrap();
    assert!(trace.contains("at inner (script.js:1:"), "{trace}");
    assert!(trace.contains("at main (script.js:2:"), "{trace}");
    assert!(
        !trace.contains("[eval]"),
        "the runner's frames are left out: {trace}"
    );
    let (status, body) = run_in(
        &app,
        "javascript",
        "async function main() { await null; throw 'no'; }",
        json!({}),
    )
    .await;
    assert_failure(status, &body, "runtime_error");
    let (status, body) = run_in(
        &app,
        "javascript",
        "function main() { process.exit(4); }",
        json!({}),
    )
    .await;
    assert_failure(status, &body, "exited");
    assert_eq!(body["exit_code"], 4, "{body}");
    let (status, body) = run_in(
        &app,
        "javascript",
        "function main() { const a = {}; a.self = a; return a; }",
        json!({}),
    )
    .await;
    assert_failure(status, &body, "invalid_result");
    assert!(body["error"].as_str().unwrap().contains("cycle"), "{body}");
    let (status, body) = run_in(
        &app,
        "javascript",
        "function main() { return () => 1; }",
        json!({}),
    )
    .await;
    assert_failure(status, &body, "invalid_result");
    let (status, body) = run_in(&app, "javascript", "function main( {", json!({})).await;
    assert_failure(status, &body, "validation_error");
    assert_limits(
        &app,
        "javascript",
        "function main() { for (;;) {} }",
        "function main() { const a = []; for (;;) a.push(Buffer.alloc(1 << 20, 1)); }",
        // Synchronous writes: console.log queues what a full pipe does not take, in memory.
        "function main() { for (;;) require('fs').writeSync(1, 'x'.repeat(1000) + '\\n'); }",
    )
    .await;
}

#[tokio::test]
async fn javascript_validate_uses_nodes_parser_and_runs_nothing() {
    let app = app_with("javascript").await;
    let check = |script: &str| json!({"language": "javascript", "script": script}).to_string();
    let (status, body) = app
        .validate_raw(check("function main() { while (true) {} }\nmain();"))
        .await;
    assert_eq!((status, &body["valid"]), (200, &json!(true)), "{body}");
    assert!(
        body["checked_by"].as_str().unwrap().starts_with("node"),
        "{body}"
    );
    let (status, body) = app
        .validate_raw(check("const a = 1;\nfunction main( {"))
        .await;
    assert_eq!((status, &body["valid"]), (200, &json!(false)), "{body}");
    assert_eq!(body["errors"][0]["line"], 2, "{body}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("SyntaxError"),
        "{body}"
    );
}
