//! GET /health: what Cloud Run probes. 503 with the reason whenever the sandbox cannot work.

use std::sync::Arc;

use actix_web::{web, HttpResponse};
use serde::Serialize;

use crate::sandbox::{Sandbox, SandboxHealth};

#[derive(Serialize)]
struct Health {
    status: &'static str,
    timestamp: String,
    version: &'static str,
    #[serde(flatten)]
    sandbox: SandboxHealth,
}

pub async fn health(sandbox: web::Data<Arc<Sandbox>>) -> HttpResponse {
    let sandbox = sandbox.check_health().await;
    let body = Health {
        status: if sandbox.healthy {
            "healthy"
        } else {
            "unhealthy"
        },
        timestamp: crate::timestamp(),
        version: env!("CARGO_PKG_VERSION"),
        sandbox,
    };
    if body.sandbox.healthy {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}
