//! R under the same contract as Python: main(input) through jsonlite (auto_unbox), input.json and
//! parameters.json, files in and ./output/ out, stdout and stderr, the exit code, a runtime_error
//! with R's calls, quit(), the limits, and /validate with R's parse() in the jail.

use serde_json::json;

use crate::languages::{
    app_with, assert_failure, assert_limits, assert_success, output_file, run_in,
};

#[tokio::test]
async fn r_main_gets_the_input_and_returns_json() {
    let app = app_with("r").await;
    let script = r#"
main <- function(input) {
  cat("n =", length(input$values), "\n")
  message("to stderr")
  d <- read.csv("data.csv")
  write.csv(data.frame(total = sum(d$x)), "output/total.csv", row.names = FALSE)
  p <- jsonlite::fromJSON("parameters.json")
  list(mean = mean(input$values), one = 1, kept = I(2), na = NA, k = p$k,
       rows = data.frame(a = 1:2, b = c("x", "y")), nothing = NULL,
       same = identical(input, input_data))
}
"#;
    let (status, body) = run_in(
        &app,
        "r",
        script,
        json!({"input": {"values": [1, 2, 3, 4]}, "parameters": {"k": "v"},
               "files": [{"name": "data.csv", "content": "x\n1\n2\n"}]}),
    )
    .await;
    assert_success(status, &body);
    assert_eq!(
        body["result"],
        json!({"mean": 2.5, "one": 1, "kept": [2], "na": null, "k": "v",
               "rows": [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}], "nothing": null, "same": true}),
        "{body}"
    );
    assert_eq!(
        (&body["stdout"], &body["stderr"]),
        (&json!("n = 4 \n"), &json!("to stderr\n"))
    );
    assert_eq!(output_file(&body, "total.csv"), "\"total\"\n3\n");
    let (status, body) = run_in(&app, "r", "x <- 1\nprint(x)", json!({})).await;
    assert_success(status, &body);
    assert_eq!(
        (&body["result"], &body["stdout"]),
        (&json!(null), &json!("[1] 1\n"))
    );
}

#[tokio::test]
async fn r_failures_map_to_the_same_error_types() {
    let app = app_with("r").await;
    let script = "inner <- function() stop(\"bad value\")\nouter <- function() inner()\nmain <- function() {\n  outer()\n}\n";
    let (status, body) = run_in(&app, "r", script, json!({})).await;
    assert_failure(status, &body, "runtime_error");
    assert_eq!(body["error"], "Error in inner(): bad value", "{body}");
    let trace = body["traceback"].as_str().unwrap();
    assert!(trace.contains("inner() at script.R#2"), "{trace}");
    assert!(trace.contains("outer() at script.R#4"), "{trace}");
    let (status, body) = run_in(&app, "r", "main <- function() quit(status = 4)", json!({})).await;
    assert_failure(status, &body, "exited");
    assert_eq!(body["exit_code"], 4, "{body}");
    let (status, body) = run_in(&app, "r", "main <- function() environment()", json!({})).await;
    assert_failure(status, &body, "invalid_result");
    let (status, body) = run_in(&app, "r", "main <- function( {", json!({})).await;
    assert_failure(status, &body, "validation_error");
    assert_limits(
        &app,
        "r",
        "main <- function() repeat {}",
        "main <- function() { x <- list(); repeat x[[length(x) + 1]] <- numeric(1e6) }",
        "main <- function() repeat cat(strrep('x', 1000), '\\n')",
    )
    .await;
}

#[tokio::test]
async fn r_validate_uses_rs_parser_and_runs_nothing() {
    let app = app_with("r").await;
    let check = |script: &str| json!({"language": "r", "script": script}).to_string();
    let (status, body) = app
        .validate_raw(check("main <- function() repeat {}\nmain()"))
        .await;
    assert_eq!((status, &body["valid"]), (200, &json!(true)), "{body}");
    assert_eq!(body["checked_by"], "R: parse()");
    let (status, body) = app.validate_raw(check("x <- 1\nmain <- function( {")).await;
    assert_eq!((status, &body["valid"]), (200, &json!(false)), "{body}");
    assert_eq!(body["errors"][0]["line"], 2, "{body}");
}
