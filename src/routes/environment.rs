//! GET /environment: the sandbox's Python version, installed packages and importable modules,
//! as scripts/setup-sandbox.sh recorded them from the sandbox's own interpreter, and the
//! operator's import policy when there is one, and the limits a request may ask for (so that a
//! client, the playground among them, can offer only what the server accepts).

use actix_web::{web, HttpResponse};
use serde::Serialize;

use crate::configuration::Settings;
use crate::environment::{Environment, LanguageEntry, Manifest};
use crate::error::ApiError;
use crate::policy::ImportPolicy;

use super::execute::request::MIN_TIMEOUT_SECS;

#[derive(Serialize)]
pub(crate) struct Answer<'a> {
    #[serde(flatten)]
    manifest: &'a Manifest,
    /// Every language: offered or not (and why), its version and packages.
    languages: &'a [LanguageEntry],
    /// `{"allow": [...]}` or `{"deny": [...]}`; absent without a policy.
    #[serde(skip_serializing_if = "Option::is_none")]
    import_policy: Option<&'a ImportPolicy>,
    limits: Limits,
}

/// The `timeout` (seconds) and `memory` (MiB) a request may ask for, and what it gets without
/// asking: the server's settings, after the memory budget fitted them at start-up.
#[derive(Serialize)]
struct Limits {
    timeout: Range,
    memory: Range,
}

#[derive(Serialize)]
struct Range {
    min: u64,
    max: u64,
    default: u64,
}

pub async fn environment(
    environment: web::Data<Environment>,
    settings: web::Data<Settings>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(describe(&environment, &settings)?))
}

/// What GET /environment answers, and what MCP's `list_environment` returns (crate::mcp).
pub(crate) fn describe<'a>(
    environment: &'a Environment,
    settings: &'a Settings,
) -> Result<Answer<'a>, ApiError> {
    match environment.manifest() {
        Ok(manifest) => Ok(Answer {
            manifest,
            languages: environment.languages(),
            import_policy: settings.sandbox.import_policy.as_ref(),
            limits: Limits {
                timeout: Range {
                    min: MIN_TIMEOUT_SECS,
                    max: settings.max_timeout_secs,
                    default: settings.default_timeout_secs,
                },
                memory: Range {
                    min: settings.min_memory_mib,
                    max: settings.max_memory_mib,
                    default: settings.default_memory_mib,
                },
            },
        }),
        // The reason names the venv's host path: it was logged at start-up; callers get words.
        Err(_) => Err(ApiError::EnvironmentUnavailable(
            "its environment.json is missing or invalid; run scripts/setup-sandbox.sh (the \
             server's start-up log says where it looked)"
                .to_owned(),
        )),
    }
}
