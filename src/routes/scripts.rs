//! The script library's routes: POST and GET /scripts, GET, PUT and DELETE /scripts/{id},
//! GET /scripts/{id}/versions/{n}, POST /scripts/{id}/execute and POST /scripts/{id}/jobs. A
//! script is checked by /execute's own checks before it is saved (a script /execute refuses with
//! a 400 is refused the same way), and a saved script runs through /execute's and POST /jobs'
//! own code (`execute::respond`, `jobs::submit`) with its source put in the body: nothing here
//! runs anything.
//!
//! Not here: the library's rules (names, descriptions, owners: crate::scripts), the database
//! (crate::store::scripts), statuses (crate::error).

use std::collections::BTreeMap;
use std::sync::Arc;

use actix_web::http::header::LOCATION;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::execute::{check_request, respond, ExecuteRequest};
use super::jobs::{owner, page, rfc3339, submit};
use super::validate::ValidateGate;
use crate::body::{decode, BodyGate};
use crate::configuration::Settings;
use crate::error::ApiError;
use crate::jobs::Jobs;
use crate::metrics::Metrics;
use crate::sandbox::Sandbox;
use crate::script::PythonScript;
use crate::scripts;
use crate::store::scripts::{ScriptRecord, VersionRecord};

/// POST /scripts' body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SaveScript {
    name: String,
    script: String,
    /// Absent or null: main()'s docstring.
    description: Option<String>,
}

/// PUT /scripts/{id}'s body: the new version's source, and a new name or description if they
/// change (a description left out is the new main()'s docstring, as on POST).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewVersionBody {
    script: String,
    name: Option<String>,
    description: Option<String>,
}

/// One version as listed in a script.
#[derive(Serialize)]
struct VersionListed {
    version: i64,
    created_at: String,
}

/// A script as GET /scripts/{id}, POST /scripts and PUT /scripts/{id} show it: its newest version
/// (or, for GET /scripts/{id}/versions/{n}, that one), with its source.
#[derive(Serialize)]
struct Shown<'a> {
    id: &'a str,
    name: &'a str,
    version: i64,
    description: &'a str,
    script: &'a str,
    /// When this version was saved.
    version_created_at: String,
    created_at: String,
    updated_at: String,
    /// Every version, oldest first (GET /scripts/{id} and the answers of POST and PUT).
    #[serde(skip_serializing_if = "Option::is_none")]
    versions: Option<Vec<VersionListed>>,
}

/// A script as GET /scripts lists it: without its source.
#[derive(Serialize)]
struct Summary<'a> {
    id: &'a str,
    name: &'a str,
    version: i64,
    description: &'a str,
    created_at: String,
    updated_at: String,
}

fn shown<'a>(
    script: &'a ScriptRecord,
    version: &'a VersionRecord,
    versions: Option<Vec<(i64, i64)>>,
) -> Shown<'a> {
    Shown {
        id: &script.id,
        name: &script.name,
        version: version.version,
        description: &version.description,
        script: &version.source,
        version_created_at: rfc3339(version.created_at),
        created_at: rfc3339(script.created_at),
        updated_at: rfc3339(script.updated_at),
        versions: versions.map(|all| {
            all.into_iter()
                .map(|(version, created_at)| VersionListed {
                    version,
                    created_at: rfc3339(created_at),
                })
                .collect()
        }),
    }
}

/// Decodes a body that must be a JSON object (serde would take a struct from an array, as
/// `["name", "script"]`).
fn object<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let decoded = decode(body)?;
    if body.trim_ascii_start().first() != Some(&b'{') {
        return Err(ApiError::InvalidRequest(
            "the body must be a JSON object".to_string(),
        ));
    }
    Ok(decoded)
}

fn location(id: &str) -> String {
    format!("/scripts/{id}")
}

/// A script's source, checked as /execute checks a script it is sent (size, syntax, main()),
/// within /validate's gate (the parse is CPU work).
async fn checked(
    source: String,
    settings: Arc<Settings>,
    gate: &ValidateGate,
    jobs: &Jobs,
) -> Result<PythonScript, ApiError> {
    // Saved scripts are Python's (a request without `language`).
    let languages = jobs.languages().clone();
    let request = ExecuteRequest {
        language: None,
        script: source,
        timeout: None,
        memory: None,
        input: None,
        parameters: None,
        files: None,
        capture_figures: None,
    };
    gate.check(move || check_request(request, &settings, &languages).map(|(script, _)| script))
        .await?
}

/// POST /scripts: saves a checked script as version 1; 201 with the script, 409 when the caller
/// has a script of that name.
pub async fn create_script(
    req: HttpRequest,
    payload: web::Payload,
    bodies: web::Data<BodyGate>,
    settings: web::Data<Settings>,
    gate: web::Data<ValidateGate>,
    jobs: web::Data<Arc<Jobs>>,
) -> Result<HttpResponse, ApiError> {
    let (body, _lease) = bodies.read(&req, payload).await?;
    let body: SaveScript = object(&body)?;
    scripts::check_name(&body.name)?;
    // A store that could not be opened answers before the parse spends CPU.
    let store = jobs.store()?;
    let script = checked(body.script, settings.into_inner(), &gate, &jobs).await?;
    let description = scripts::description(body.description, &script)?;
    let saved = scripts::create(store, owner(&req), body.name, &script, description).await?;
    let version = VersionRecord {
        version: 1,
        source: script.source().to_string(),
        description: saved.description.clone(),
        created_at: saved.created_at,
    };
    let versions = vec![(1, saved.created_at)];
    Ok(HttpResponse::Created()
        .insert_header((LOCATION, location(&saved.id)))
        .json(shown(&saved, &version, Some(versions))))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    limit: Option<u32>,
    cursor: Option<String>,
}

#[derive(Serialize)]
struct Listed<'a> {
    scripts: Vec<Summary<'a>>,
    /// Pass it as `cursor` for the next (older) page; null on the last page.
    next_cursor: Option<String>,
}

/// GET /scripts?limit=&cursor=: the caller's scripts, newest first, without their sources.
pub async fn list_scripts(
    req: HttpRequest,
    jobs: web::Data<Arc<Jobs>>,
) -> Result<HttpResponse, ApiError> {
    let query = web::Query::<ListQuery>::from_query(req.query_string())
        .map_err(|e| ApiError::InvalidRequest(format!("invalid query: {e}")))?
        .into_inner();
    let (limit, before) = page(query.limit, query.cursor.as_deref(), "/scripts")?;
    let owner = owner(&req);
    let page = jobs
        .store()?
        .list_scripts(owner.as_deref(), before, limit)
        .await?;
    let next_cursor = match page.last() {
        Some(last) if page.len() == limit as usize => Some(last.seq.to_string()),
        _ => None,
    };
    Ok(HttpResponse::Ok().json(Listed {
        scripts: page
            .iter()
            .map(|s| Summary {
                id: &s.id,
                name: &s.name,
                version: s.latest,
                description: &s.description,
                created_at: rfc3339(s.created_at),
                updated_at: rfc3339(s.updated_at),
            })
            .collect(),
        next_cursor,
    }))
}

/// GET /scripts/{id}: the newest version, with the list of every version.
pub async fn describe_script(
    req: HttpRequest,
    id: web::Path<String>,
    jobs: web::Data<Arc<Jobs>>,
) -> Result<HttpResponse, ApiError> {
    let owner = owner(&req);
    let store = jobs.store()?;
    let (script, version) = scripts::version(store, &id, owner.as_deref(), None).await?;
    let versions = store.script_versions(&id).await?;
    Ok(HttpResponse::Ok().json(shown(&script, &version, Some(versions))))
}

/// GET /scripts/{id}/versions/{n}: one version, older ones included. A version that is not a
/// number is one the script never had: 404.
pub async fn script_version(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    jobs: web::Data<Arc<Jobs>>,
) -> Result<HttpResponse, ApiError> {
    let (id, n) = path.into_inner();
    let owner = owner(&req);
    let store = jobs.store()?;
    let number = n.parse::<i64>().unwrap_or(0);
    let (script, version) = scripts::version(store, &id, owner.as_deref(), Some(number)).await?;
    Ok(HttpResponse::Ok().json(shown(&script, &version, None)))
}

/// PUT /scripts/{id}: a new version, checked as POST's; answers with the script at that version.
pub async fn update_script(
    req: HttpRequest,
    id: web::Path<String>,
    payload: web::Payload,
    bodies: web::Data<BodyGate>,
    settings: web::Data<Settings>,
    gate: web::Data<ValidateGate>,
    jobs: web::Data<Arc<Jobs>>,
) -> Result<HttpResponse, ApiError> {
    let (body, _lease) = bodies.read(&req, payload).await?;
    let body: NewVersionBody = object(&body)?;
    if let Some(name) = &body.name {
        scripts::check_name(name)?;
    }
    let owner = owner(&req);
    let store = jobs.store()?;
    // An unknown script is a 404 before its new source is parsed.
    scripts::get(store, &id, owner.as_deref()).await?;
    let script = checked(body.script, settings.into_inner(), &gate, &jobs).await?;
    let description = scripts::description(body.description, &script)?;
    let number = scripts::update(
        store,
        &id,
        owner.as_deref(),
        body.name.as_deref(),
        &script,
        &description,
    )
    .await?;
    let (script, version) = scripts::version(store, &id, owner.as_deref(), Some(number)).await?;
    let versions = store.script_versions(&id).await?;
    Ok(HttpResponse::Ok().json(shown(&script, &version, Some(versions))))
}

/// DELETE /scripts/{id}: the script and every version; 204.
pub async fn delete_script(
    req: HttpRequest,
    id: web::Path<String>,
    jobs: web::Data<Arc<Jobs>>,
) -> Result<HttpResponse, ApiError> {
    let owner = owner(&req);
    scripts::delete(jobs.store()?, &id, owner.as_deref()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A JSON object's members, values as sent.
type Members = Vec<(String, Box<RawValue>)>;

/// The body of a saved script's run: /execute's (or POST /jobs') without `script`, plus an
/// optional `version`. Returns its other members, as sent, and the version asked for.
fn run_options(body: &[u8]) -> Result<(Members, Option<i64>), ApiError> {
    // No body at all: the newest version, with no input.
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok((Vec::new(), None));
    }
    let raw: BTreeMap<String, Box<RawValue>> = match decode(body) {
        Ok(raw) => raw,
        Err(_) => {
            // Not JSON at all: the decoder's own words; JSON but no object: say so.
            decode::<serde_json::Value>(body)?;
            return Err(ApiError::InvalidRequest(
                "the body must be a JSON object".to_string(),
            ));
        }
    };
    let mut rest = Vec::with_capacity(raw.len());
    let mut version = None;
    for (name, value) in raw {
        match name.as_str() {
            "script" => {
                return Err(ApiError::InvalidRequest(
                    "a saved script's run takes no `script`: it runs the saved one (`version` \
                     picks an older one; PUT /scripts/{id} saves a new one)"
                        .to_string(),
                ))
            }
            "version" => {
                version = match serde_json::from_str::<Option<i64>>(value.get()) {
                    Ok(None) => None,
                    Ok(Some(n)) if n >= 1 => Some(n),
                    _ => {
                        return Err(ApiError::InvalidRequest(
                            "version must be a whole number, 1 or more".to_string(),
                        ))
                    }
                }
            }
            _ => rest.push((name, value)),
        }
    }
    Ok((rest, version))
}

/// The body /execute (or POST /jobs) gets: the members as sent, and the saved source as `script`.
fn with_script(rest: &Members, source: &str) -> String {
    let mut out = String::from("{\"script\":");
    out.push_str(&serde_json::to_string(source).unwrap_or_default());
    for (name, value) in rest {
        out.push(',');
        out.push_str(&serde_json::to_string(name).unwrap_or_default());
        out.push(':');
        out.push_str(value.get());
    }
    out.push('}');
    out
}

/// POST /scripts/{id}/execute: runs the saved script (its newest version, or `version`) exactly
/// as POST /execute runs one sent with the request, and answers as /execute does.
#[allow(clippy::too_many_arguments)]
pub async fn execute_script(
    req: HttpRequest,
    id: web::Path<String>,
    payload: web::Payload,
    bodies: web::Data<BodyGate>,
    settings: web::Data<Settings>,
    sandbox: web::Data<Arc<Sandbox>>,
    metrics: web::Data<Metrics>,
    jobs: web::Data<Arc<Jobs>>,
) -> Result<HttpResponse, ApiError> {
    let (body, _lease) = bodies.read(&req, payload).await?;
    let (rest, version) = run_options(&body)?;
    let owner = owner(&req);
    let (_, source) = scripts::source(jobs.store()?, &id, owner.as_deref(), version).await?;
    let request: ExecuteRequest = decode(with_script(&rest, &source).as_bytes())?;
    Ok(respond(&req, request, &settings, &sandbox, &metrics).await)
}

/// POST /scripts/{id}/jobs: submits the saved script (its newest version, or `version`) as POST
/// /jobs submits one sent with the request (`callback_url` and `max_attempts` included); the
/// job records which script and version it runs.
pub async fn script_job(
    req: HttpRequest,
    id: web::Path<String>,
    payload: web::Payload,
    bodies: web::Data<BodyGate>,
    gate: web::Data<ValidateGate>,
    jobs: web::Data<Arc<Jobs>>,
) -> Result<HttpResponse, ApiError> {
    let (body, _lease) = bodies.read(&req, payload).await?;
    let (rest, version) = run_options(&body)?;
    let owner = owner(&req);
    let (script, source) = scripts::source(jobs.store()?, &id, owner.as_deref(), version).await?;
    let body = with_script(&rest, &source);
    submit(&req, body.as_bytes(), &gate, &jobs, Some(script)).await
}

#[cfg(test)]
mod tests {
    use super::{run_options, with_script};

    #[test]
    fn a_runs_body_keeps_its_members_as_sent_and_gets_the_saved_source() {
        let (rest, version) =
            run_options(br#"{"input": 12345678901234567890123, "version": 2, "timeout": 5}"#)
                .unwrap();
        assert_eq!(version, Some(2));
        let body = with_script(&rest, "def main(x):\n    return \"x\"\n");
        let parsed: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(parsed["script"], "def main(x):\n    return \"x\"\n");
        assert_eq!(parsed["timeout"], 5);
        assert!(body.contains("12345678901234567890123"), "as sent: {body}");
        assert!(!body.contains("version"), "{body}");
        assert_eq!(run_options(b"").unwrap().1, None);
        assert_eq!(run_options(br#"{"version": null}"#).unwrap().1, None);
        for bad in [
            &br#"{"script": "x"}"#[..],
            br#"{"version": 0}"#,
            br#"{"version": "1"}"#,
            br#"{"version": 1.5}"#,
            b"[1]",
            b"{",
        ] {
            assert!(
                run_options(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
