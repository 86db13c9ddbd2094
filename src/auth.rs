//! Optional API keys: when `API_KEYS` is set, protected routes need `Authorization: Bearer <key>`.
//! Cloud Run IAM (`--no-allow-unauthenticated`) is the alternative, in front of the service.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderMap, AUTHORIZATION};
use actix_web::middleware::Next;
use actix_web::{web, ResponseError};

use crate::error::ApiError;

/// The accepted keys, as app data.
#[derive(Clone, Default)]
pub struct ApiKeys(pub Vec<String>);

/// Middleware for protected routes. Without configured keys it lets everything through.
pub async fn require_api_key<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, actix_web::Error> {
    let allowed = match req.app_data::<web::Data<ApiKeys>>() {
        None => true,
        Some(keys) if keys.0.is_empty() => true,
        Some(keys) => {
            let presented = presented_key(req.headers()).unwrap_or("");
            // Every key is compared, whatever matched, so timing does not reveal which.
            keys.0
                .iter()
                .fold(false, |found, key| constant_time_eq(presented, key) | found)
        }
    };
    if allowed {
        Ok(next.call(req).await?.map_into_left_body())
    } else {
        let response = ApiError::Unauthorized.error_response();
        Ok(req.into_response(response).map_into_right_body())
    }
}

/// The key a request presents (`Authorization: Bearer <key>`), if any: what the middleware checks,
/// and what makes a session its owner's (routes/sessions.rs).
pub fn presented_key(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
}

/// The key a request presented when API keys are on: what owns a session or a job (routes
/// sessions.rs, jobs.rs). `None` when keys are off: everything is everyone's.
pub fn owner(req: &actix_web::HttpRequest) -> Option<String> {
    let keys = req.app_data::<web::Data<ApiKeys>>()?;
    if keys.0.is_empty() {
        return None;
    }
    presented_key(req.headers()).map(str::to_string)
}

/// Compares without an early exit: the time depends on the lengths only, not on where they differ.
fn constant_time_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut diff = u8::from(a.len() != b.len());
    for i in 0..a.len().max(b.len()) {
        diff |= a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0xff);
    }
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn compares_whole_strings() {
        assert!(constant_time_eq("secret-key-0001", "secret-key-0001"));
        assert!(!constant_time_eq("secret-key-0001", "secret-key-0002"));
        assert!(!constant_time_eq("secret-key-000", "secret-key-0001"));
        assert!(!constant_time_eq("", "x"));
        assert!(!constant_time_eq("x\0", "x"));
    }
}
