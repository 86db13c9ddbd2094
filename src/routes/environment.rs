//! GET /environment: the sandbox's Python version, installed packages and importable modules,
//! as scripts/setup-sandbox.sh recorded them from the sandbox's own interpreter.

use actix_web::{web, HttpResponse};

use crate::environment::Environment;
use crate::error::ApiError;

pub async fn environment(environment: web::Data<Environment>) -> Result<HttpResponse, ApiError> {
    match environment.manifest() {
        Ok(manifest) => Ok(HttpResponse::Ok().json(manifest)),
        // The reason names the venv's host path: it was logged at start-up; callers get words.
        Err(_) => Err(ApiError::EnvironmentUnavailable(
            "its environment.json is missing or invalid; run scripts/setup-sandbox.sh (the \
             server's start-up log says where it looked)"
                .to_owned(),
        )),
    }
}
