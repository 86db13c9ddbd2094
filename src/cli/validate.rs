//! `python-script-api validate`: /validate's report for a script, made here (the server's own
//! check, routes::validation_report, with this machine's settings and environment.json; nothing
//! runs and no sandbox starts) or by the server given with --url. The report goes to stdout as
//! JSON, each problem to stderr as FILE:LINE:COLUMN: message.

use std::io::Write;

use serde_json::{json, Map, Value};

use super::request::read_script;
use super::{remote, Exit, Failed, ValidateArgs};
use crate::configuration::Settings;
use crate::environment::Environment;
use crate::routes::{validation_report, ExecuteRequest};

pub(super) async fn validate(args: &ValidateArgs) -> Result<Exit, Failed> {
    let script = read_script(&args.script)?;
    let body = json!({ "script": script });
    let report = match &args.server.url {
        Some(url) => {
            let answer = remote::validate(url, args.server.api_key.as_deref(), &body).await?;
            match serde_json::to_value(answer) {
                Ok(Value::Object(report)) => report,
                _ => return Err(Failed::new(Exit::Unreachable, format!("{url}: no report"))),
            }
        }
        None => local(body).await?,
    };
    let valid = report.get("valid") == Some(&Value::Bool(true));
    if !valid {
        let file = args.script.display().to_string();
        let mut stderr = std::io::stderr().lock();
        for problem in report
            .get("errors")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let message = problem.get("message").and_then(Value::as_str).unwrap_or("");
            let at = |key: &str| problem.get(key).and_then(Value::as_u64);
            let _ = match (at("line"), at("column")) {
                (Some(line), Some(column)) => writeln!(stderr, "{file}:{line}:{column}: {message}"),
                _ => writeln!(stderr, "{file}: {message}"),
            };
        }
    }
    println!("{}", Value::Object(report));
    Ok(if valid {
        Exit::Success
    } else {
        Exit::ScriptFailed
    })
}

/// The report made here, as /validate makes it (off the async executor: a parse can take a
/// second of CPU).
async fn local(body: Value) -> Result<Map<String, Value>, Failed> {
    let settings = Settings::from_env()
        .map_err(|e| Failed::new(Exit::ServiceFailed, format!("configuration: {e}")))?;
    let request: ExecuteRequest = serde_json::from_value(body)
        .map_err(|e| Failed::usage(format!("the request cannot be made: {e}")))?;
    let report = tokio::task::spawn_blocking(move || {
        let environment = Environment::load(&settings.sandbox.venv_path);
        serde_json::to_value(validation_report(request, &settings, &environment))
    })
    .await;
    match report {
        Ok(Ok(Value::Object(report))) => Ok(report),
        _ => Err(Failed::new(
            Exit::ServiceFailed,
            "the script could not be checked",
        )),
    }
}
