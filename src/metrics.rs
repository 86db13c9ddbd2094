//! Prometheus metrics, in the text exposition format, without a client library: a handful of
//! counters and one histogram do not need one.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

use crate::sandbox::{PoolStats, QueueStats, SandboxHealth};

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

    pub fn render(&self, sandbox: &SandboxHealth, pool: &PoolStats, queue: &QueueStats) -> String {
        let inner = self.lock();
        let mut out = String::new();
        header(
            &mut out,
            "psa_http_requests_total",
            "counter",
            "HTTP requests by endpoint and status.",
        );
        for ((endpoint, status), n) in &inner.requests {
            let endpoint = escape(endpoint);
            line(
                &mut out,
                &format!("psa_http_requests_total{{endpoint=\"{endpoint}\",status=\"{status}\"}}"),
                n,
            );
        }
        let overloaded: u64 = inner
            .requests
            .iter()
            .filter(|((_, status), _)| *status == 429)
            .map(|(_, n)| n)
            .sum();
        single(
            &mut out,
            "psa_overloaded_total",
            "counter",
            "Requests refused with 429: every slot and queue place was taken.",
            overloaded,
        );
        header(
            &mut out,
            "psa_executions_total",
            "counter",
            "Script runs by outcome (success or error_type).",
        );
        for (outcome, n) in &inner.executions {
            line(
                &mut out,
                &format!("psa_executions_total{{outcome=\"{outcome}\"}}"),
                n,
            );
        }
        let hist = "psa_execution_duration_seconds";
        header(
            &mut out,
            hist,
            "histogram",
            "Wall time of script runs in the sandbox.",
        );
        let mut cumulative = 0;
        for (i, bound) in BUCKETS.iter().enumerate() {
            cumulative += inner.duration_buckets[i];
            line(
                &mut out,
                &format!("{hist}_bucket{{le=\"{bound}\"}}"),
                cumulative,
            );
        }
        cumulative += inner.duration_buckets[BUCKETS.len()];
        line(
            &mut out,
            &format!("{hist}_bucket{{le=\"+Inf\"}}"),
            cumulative,
        );
        line(&mut out, &format!("{hist}_sum"), inner.duration_sum);
        line(&mut out, &format!("{hist}_count"), inner.duration_count);
        single(
            &mut out,
            "psa_sandboxes_busy",
            "gauge",
            "Sandbox slots running a script now.",
            sandbox.busy,
        );
        single(
            &mut out,
            "psa_sandbox_slots",
            "gauge",
            "Sandbox slots in all.",
            sandbox.slots,
        );
        single(
            &mut out,
            "psa_queue_depth",
            "gauge",
            "Requests waiting for a slot now.",
            sandbox.queued,
        );
        single(
            &mut out,
            "psa_queue_limit",
            "gauge",
            "Requests that may wait for a slot now: as many as wait less than SANDBOX_QUEUE_WAIT_SECS at the estimated hold, at most SANDBOX_QUEUE.",
            queue.limit,
        );
        single(
            &mut out,
            "psa_slot_hold_seconds",
            "gauge",
            "Moving estimate of how long an admitted request holds its slot (sizes the queue and Retry-After).",
            queue.hold_seconds,
        );
        single(
            &mut out,
            "psa_pool_target",
            "gauge",
            "Warm sandboxes the pool keeps ready.",
            pool.target,
        );
        single(
            &mut out,
            "psa_pool_ready",
            "gauge",
            "Warm sandboxes ready now.",
            pool.ready,
        );
        single(
            &mut out,
            "psa_pool_hits_total",
            "counter",
            "Runs that got a warm sandbox.",
            pool.hits,
        );
        single(&mut out, "psa_pool_misses_total", "counter", "Runs that wanted a warm sandbox and went cold: none ready, or too little memory asked for.", pool.misses);
        single(
            &mut out,
            "psa_pool_zygote_starts_total",
            "counter",
            "Zygotes started in fork mode: one per slot, then one for each replaced (it died, or a run did not end cleanly).",
            pool.zygote_starts,
        );
        single(
            &mut out,
            "psa_healthy",
            "gauge",
            "1 when the sandbox can run scripts.",
            u8::from(sandbox.healthy),
        );
        out
    }
}

// Writing to a String cannot fail, so the fmt::Results are dropped.
/// The sessions' series (crate::sessions), appended to `Metrics::render`'s text by the route.
pub fn render_sessions(stats: &crate::sessions::SessionStats) -> String {
    let mut out = String::new();
    single(
        &mut out,
        "psa_sessions_open",
        "gauge",
        "Sessions open now.",
        stats.open,
    );
    single(
        &mut out,
        "psa_sessions_max",
        "gauge",
        "SESSIONS_MAX: the most sessions open at once.",
        stats.max,
    );
    single(
        &mut out,
        "psa_sessions_created_total",
        "counter",
        "Sessions created.",
        stats.created,
    );
    header(
        &mut out,
        "psa_sessions_ended_total",
        "counter",
        "Sessions ended, by reason.",
    );
    for (reason, n) in &stats.ended {
        line(
            &mut out,
            &format!("psa_sessions_ended_total{{reason=\"{reason}\"}}"),
            n,
        );
    }
    single(
        &mut out,
        "psa_sessions_memory_bytes",
        "gauge",
        "Memory the open sessions' processes held when last measured (after each cell).",
        stats.memory_bytes,
    );
    single(
        &mut out,
        "psa_sessions_reserved_mib",
        "gauge",
        "MiB of the memory budget the open sessions hold (their memory limits).",
        stats.reserved_mib,
    );
    out
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn line(out: &mut String, series: &str, value: impl std::fmt::Display) {
    let _ = writeln!(out, "{series} {value}");
}

fn single(out: &mut String, name: &str, kind: &str, help: &str, value: impl std::fmt::Display) {
    header(out, name, kind, help);
    line(out, name, value);
}

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
