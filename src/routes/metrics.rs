//! GET /metrics: Prometheus text format.

use std::sync::Arc;

use actix_web::{web, HttpResponse};

use crate::metrics::Metrics;
use crate::sandbox::Sandbox;
use crate::sessions::Sessions;

pub async fn metrics(
    metrics: web::Data<Metrics>,
    sandbox: web::Data<Arc<Sandbox>>,
    sessions: web::Data<Arc<Sessions>>,
) -> HttpResponse {
    let mut text = metrics.render(
        &sandbox.health(),
        &sandbox.pool_stats(),
        &sandbox.queue_stats(),
    );
    text.push_str(&crate::metrics::render_sessions(&sessions.stats()));
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(text)
}
