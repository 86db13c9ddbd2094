//! GET /metrics: Prometheus text format.

use std::sync::Arc;

use actix_web::{web, HttpResponse};

use crate::metrics::Metrics;
use crate::sandbox::Sandbox;

pub async fn metrics(
    metrics: web::Data<Metrics>,
    sandbox: web::Data<Arc<Sandbox>>,
) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(metrics.render(
            &sandbox.health(),
            &sandbox.pool_stats(),
            &sandbox.queue_stats(),
        ))
}
