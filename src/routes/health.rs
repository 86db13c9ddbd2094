//! GET /health: what Cloud Run probes. 503 with the reason whenever the sandbox cannot work.

use std::sync::Arc;

use actix_web::{web, HttpResponse};
use serde::Serialize;

use crate::sandbox::{Sandbox, SandboxHealth};
use crate::sessions::Sessions;

#[derive(Serialize)]
struct Health {
    status: &'static str,
    timestamp: String,
    version: &'static str,
    #[serde(flatten)]
    sandbox: SandboxHealth,
    sessions: SessionsHealth,
}

#[derive(Serialize)]
struct SessionsHealth {
    open: usize,
    max: usize,
    created: u64,
    ended: std::collections::BTreeMap<&'static str, u64>,
    memory_bytes: u64,
    reserved_mib: u64,
    cpu_weight: Option<String>,
}

pub async fn health(
    sandbox: web::Data<Arc<Sandbox>>,
    sessions: web::Data<Arc<Sessions>>,
) -> HttpResponse {
    let sandbox = sandbox.check_health().await;
    let stats = sessions.stats();
    let sessions = SessionsHealth {
        open: stats.open,
        max: stats.max,
        created: stats.created,
        ended: stats.ended.into_iter().collect(),
        memory_bytes: stats.memory_bytes,
        reserved_mib: stats.reserved_mib,
        cpu_weight: stats.cpu_weight,
    };
    let body = Health {
        status: if sandbox.healthy {
            "healthy"
        } else {
            "unhealthy"
        },
        timestamp: crate::timestamp(),
        version: env!("CARGO_PKG_VERSION"),
        sandbox,
        sessions,
    };
    if body.sandbox.healthy {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}
