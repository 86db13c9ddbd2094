//! Logging as JSON lines that Cloud Logging understands, request IDs, and the one log line (and the
//! metrics) of each request.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io::Write;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage};
use serde_json::{Map, Value};

use crate::configuration::LogFormat;
use crate::error::ErrorType;
use crate::metrics::Metrics;

use crate::request_id::{with_request_id, RequestId, REQUEST_ID_HEADER};

/// Initialises env_logger (filter from `RUST_LOG`, default `info`). JSON lines carry `severity`,
/// `message`, `time`, `target`, and any key-values of the record (request_id, duration_ms, ...).
pub fn init_logging(format: LogFormat) {
    init_logging_at(format, "info");
}

/// `init_logging`, with `default_filter` when `RUST_LOG` is unset (the command line's runs log
/// only warnings: the terminal's stderr is the script's).
pub fn init_logging_at(format: LogFormat, default_filter: &str) {
    let mut builder =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(default_filter));
    if format == LogFormat::Json {
        builder.format(|buf, record| {
            let mut line = Map::new();
            line.insert("severity".into(), severity(record.level()).into());
            line.insert("message".into(), record.args().to_string().into());
            line.insert("time".into(), crate::timestamp().into());
            line.insert("target".into(), record.target().into());
            let mut fields = Fields(&mut line);
            let _ = record.key_values().visit(&mut fields);
            writeln!(buf, "{}", Value::Object(line))
        });
    }
    let _ = builder.try_init();
}

/// Cloud Logging's names for the levels.
fn severity(level: log::Level) -> &'static str {
    match level {
        log::Level::Error => "ERROR",
        log::Level::Warn => "WARNING",
        log::Level::Info => "INFO",
        log::Level::Debug | log::Level::Trace => "DEBUG",
    }
}

struct Fields<'a>(&'a mut Map<String, Value>);

impl<'kvs> log::kv::VisitSource<'kvs> for Fields<'_> {
    fn visit_pair(
        &mut self,
        key: log::kv::Key<'kvs>,
        value: log::kv::Value<'kvs>,
    ) -> Result<(), log::kv::Error> {
        let value = if let Some(n) = value.to_u64() {
            Value::from(n)
        } else if let Some(b) = value.to_bool() {
            Value::from(b)
        } else {
            let text = value.to_string();
            if text.is_empty() {
                return Ok(()); // an absent field, such as error_type on a success
            }
            Value::from(text)
        };
        self.0.insert(key.to_string(), value);
        Ok(())
    }
}

/// Middleware: assigns the request ID, echoes it in the response, counts the request and logs one
/// line for it. Never the body: scripts and their output stay out of the logs.
pub async fn request_log(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody + 'static>, actix_web::Error> {
    let started = Instant::now();
    let id = req
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| is_sane_id(v))
        .map_or_else(new_request_id, str::to_owned);
    req.extensions_mut().insert(RequestId(id.clone()));
    let method = req.method().to_string();
    // A session's id is its secret (without API keys, its only one): the log shows its start.
    let path = crate::sessions::loggable_path(req.path()).into_owned();
    let endpoint = req
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    let metrics = req.app_data::<web::Data<Metrics>>().cloned();

    let mut res = with_request_id(id.clone(), next.call(req)).await?;

    let status = res.status().as_u16();
    let error_type = res.response().extensions().get::<ErrorType>().copied();
    if let Ok(value) = HeaderValue::from_str(&id) {
        res.headers_mut()
            .insert(HeaderName::from_static(REQUEST_ID_HEADER), value);
    }
    if let Some(metrics) = metrics {
        metrics.record_request(&endpoint, status);
    }
    let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let error_type = error_type.map_or("", ErrorType::as_str);
    let level = if status >= 500 {
        log::Level::Error
    } else {
        log::Level::Info
    };
    log::log!(
        level,
        request_id = id.as_str(), method = method.as_str(), path = path.as_str(), status = status,
        duration_ms = duration_ms, error_type = error_type;
        "{method} {path} {status} {duration_ms} ms{}{error_type}",
        if error_type.is_empty() { "" } else { " " }
    );
    Ok(res)
}

/// Up to 128 visible ASCII characters: anything else could forge log fields or headers.
fn is_sane_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_graphic())
}

/// 128 random bits as hex. `RandomState` is seeded from the OS once per thread and differs per call.
fn new_request_id() -> String {
    let half = || RandomState::new().build_hasher().finish();
    format!("{:016x}{:016x}", half(), half())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_random_and_callers_ids_are_checked() {
        let a = new_request_id();
        assert_eq!(a.len(), 32);
        assert_ne!(a, new_request_id());
        assert!(is_sane_id("abc-123_XYZ"));
        assert!(!is_sane_id(""));
        assert!(!is_sane_id("with space"));
        assert!(!is_sane_id("line\nbreak"));
        assert!(!is_sane_id(&"x".repeat(129)));
    }
}
