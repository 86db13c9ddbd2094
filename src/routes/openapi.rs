//! GET /openapi.json: the API's description. Hand-written; tests/api/openapi.rs validates every
//! example in it and real responses against it, and fails when it drifts from the server.

use actix_web::HttpResponse;

pub const OPENAPI: &str = include_str!("../openapi.json");

pub async fn openapi() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(OPENAPI)
}
