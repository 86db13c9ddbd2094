//! GET /environment: the sandbox's Python version, installed packages and importable modules,
//! as scripts/setup-sandbox.sh recorded them from the sandbox's own interpreter, and the
//! operator's import policy when there is one.

use actix_web::{web, HttpResponse};
use serde::Serialize;

use crate::configuration::Settings;
use crate::environment::{Environment, LanguageEntry, Manifest};
use crate::error::ApiError;
use crate::policy::ImportPolicy;

#[derive(Serialize)]
pub(crate) struct Answer<'a> {
    #[serde(flatten)]
    manifest: &'a Manifest,
    /// Every language: offered or not (and why), its version and packages.
    languages: &'a [LanguageEntry],
    /// `{"allow": [...]}` or `{"deny": [...]}`; absent without a policy.
    #[serde(skip_serializing_if = "Option::is_none")]
    import_policy: Option<&'a ImportPolicy>,
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
        }),
        // The reason names the venv's host path: it was logged at start-up; callers get words.
        Err(_) => Err(ApiError::EnvironmentUnavailable(
            "its environment.json is missing or invalid; run scripts/setup-sandbox.sh (the \
             server's start-up log says where it looked)"
                .to_owned(),
        )),
    }
}
