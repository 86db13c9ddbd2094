//! Prometheus metrics, in the text exposition format, without a client library: a handful of
//! counters and one histogram do not need one.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

use crate::sandbox::{PoolStats, SandboxHealth};

/// Upper bounds of the execution-duration histogram, in seconds.
const BUCKETS: [f64; 14] = [
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
];

#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    requests: BTreeMap<(String, u16), u64>,
    executions: BTreeMap<&'static str, u64>,
    /// Per bucket (non-cumulative), plus +Inf at the end.
    duration_buckets: [u64; BUCKETS.len() + 1],
    duration_sum: f64,
    duration_count: u64,
}

impl Metrics {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Counters only: a panic elsewhere cannot leave them inconsistent.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `endpoint` is the matched route pattern, so the label set stays small.
    pub fn record_request(&self, endpoint: &str, status: u16) {
        *self
            .lock()
            .requests
            .entry((endpoint.to_owned(), status))
            .or_default() += 1;
    }

    /// `outcome` is "success" or the run's error_type.
    pub fn record_execution(&self, outcome: &'static str, duration: Duration) {
        let mut inner = self.lock();
        *inner.executions.entry(outcome).or_default() += 1;
        let secs = duration.as_secs_f64();
        let bucket = BUCKETS
            .iter()
            .position(|&b| secs <= b)
            .unwrap_or(BUCKETS.len());
        inner.duration_buckets[bucket] += 1;
        inner.duration_sum += secs;
        inner.duration_count += 1;
    }

    pub fn render(&self, sandbox: &SandboxHealth, pool: &PoolStats) -> String {
        let inner = self.lock();
        let mut out = String::new();
        let _ = (|| -> std::fmt::Result {
            writeln!(
                out,
                "# HELP psa_http_requests_total HTTP requests by endpoint and status."
            )?;
            writeln!(out, "# TYPE psa_http_requests_total counter")?;
            for ((endpoint, status), n) in &inner.requests {
                writeln!(
                    out,
                    "psa_http_requests_total{{endpoint=\"{}\",status=\"{status}\"}} {n}",
                    escape(endpoint)
                )?;
            }
            writeln!(out, "# HELP psa_overloaded_total Requests refused with 429 because every slot and queue place was taken.")?;
            writeln!(out, "# TYPE psa_overloaded_total counter")?;
            let overloaded: u64 = inner
                .requests
                .iter()
                .filter(|((_, status), _)| *status == 429)
                .map(|(_, n)| n)
                .sum();
            writeln!(out, "psa_overloaded_total {overloaded}")?;
            writeln!(
                out,
                "# HELP psa_executions_total Script runs by outcome (success or error_type)."
            )?;
            writeln!(out, "# TYPE psa_executions_total counter")?;
            for (outcome, n) in &inner.executions {
                writeln!(out, "psa_executions_total{{outcome=\"{outcome}\"}} {n}")?;
            }
            writeln!(
                out,
                "# HELP psa_execution_duration_seconds Wall time of script runs in the sandbox."
            )?;
            writeln!(out, "# TYPE psa_execution_duration_seconds histogram")?;
            let mut cumulative = 0;
            for (i, bound) in BUCKETS.iter().enumerate() {
                cumulative += inner.duration_buckets[i];
                writeln!(
                    out,
                    "psa_execution_duration_seconds_bucket{{le=\"{bound}\"}} {cumulative}"
                )?;
            }
            cumulative += inner.duration_buckets[BUCKETS.len()];
            writeln!(
                out,
                "psa_execution_duration_seconds_bucket{{le=\"+Inf\"}} {cumulative}"
            )?;
            writeln!(
                out,
                "psa_execution_duration_seconds_sum {}",
                inner.duration_sum
            )?;
            writeln!(
                out,
                "psa_execution_duration_seconds_count {}",
                inner.duration_count
            )?;
            writeln!(
                out,
                "# HELP psa_sandboxes_busy Sandbox slots running a script now."
            )?;
            writeln!(out, "# TYPE psa_sandboxes_busy gauge")?;
            writeln!(out, "psa_sandboxes_busy {}", sandbox.busy)?;
            writeln!(out, "# HELP psa_sandbox_slots Sandbox slots in all.")?;
            writeln!(out, "# TYPE psa_sandbox_slots gauge")?;
            writeln!(out, "psa_sandbox_slots {}", sandbox.slots)?;
            writeln!(
                out,
                "# HELP psa_queue_depth Requests waiting for a slot now."
            )?;
            writeln!(out, "# TYPE psa_queue_depth gauge")?;
            writeln!(out, "psa_queue_depth {}", sandbox.queued)?;
            writeln!(
                out,
                "# HELP psa_pool_target Warm sandboxes the pool keeps ready."
            )?;
            writeln!(out, "# TYPE psa_pool_target gauge")?;
            writeln!(out, "psa_pool_target {}", pool.target)?;
            writeln!(out, "# HELP psa_pool_ready Warm sandboxes ready now.")?;
            writeln!(out, "# TYPE psa_pool_ready gauge")?;
            writeln!(out, "psa_pool_ready {}", pool.ready)?;
            writeln!(
                out,
                "# HELP psa_pool_hits_total Runs that got a warm sandbox."
            )?;
            writeln!(out, "# TYPE psa_pool_hits_total counter")?;
            writeln!(out, "psa_pool_hits_total {}", pool.hits)?;
            writeln!(out, "# HELP psa_pool_misses_total Runs that went cold: none ready, or too little memory asked for.")?;
            writeln!(out, "# TYPE psa_pool_misses_total counter")?;
            writeln!(out, "psa_pool_misses_total {}", pool.misses)?;
            writeln!(
                out,
                "# HELP psa_healthy 1 when the sandbox can run scripts."
            )?;
            writeln!(out, "# TYPE psa_healthy gauge")?;
            writeln!(out, "psa_healthy {}", u8::from(sandbox.healthy))
        })();
        out
    }
}

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
