//! GET /environment: the sandbox's Python version, installed packages and importable modules,
//! as scripts/setup-sandbox.sh recorded them from the sandbox's own interpreter.

use actix_web::{web, HttpResponse};

use crate::environment::Environment;
use crate::error::ApiError;

pub async fn environment(environment: web::Data<Environment>) -> Result<HttpResponse, ApiError> {
    match environment.manifest() {
        Ok(manifest) => Ok(HttpResponse::Ok().json(manifest)),
        Err(reason) => Err(ApiError::EnvironmentUnavailable(reason.to_owned())),
    }
}
