//! Which web pages may call the API. A browser names the page behind every cross-origin request,
//! and behind every POST, in `Origin`; without a check, any page a developer opens could run a
//! script on their server (a `text/plain` POST needs no preflight) and, by DNS rebinding, read
//! the answer. So a request that carries `Origin` passes only when that origin is listed in
//! `ALLOWED_ORIGINS`, or when it is the server's own origin on a loopback name or an IP address
//! (DNS rebinding needs a domain name). Listed origins get real CORS, preflight included.
//! A request without `Origin` (curl, SDKs, other servers) is not a browser's page, and passes.
//!
//! Every route and method goes through this: POSTs run and validate scripts, and the GETs are
//! refused too when a page asks cross-origin, so that no route answers a page the operator did not
//! allow. (A browser sends no `Origin` on a same-origin GET, so a rebinding page can still read
//! the GETs' answers; they hold no secret: see SECURITY.md.)

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{web, HttpResponse, ResponseError};

use crate::configuration::Settings;
use crate::error::ApiError;

/// What a browser's page may send and read, for listed origins.
const ALLOW_METHODS: &str = "GET, POST";
const ALLOW_HEADERS: &str = "Authorization, Content-Type, Accept, X-Request-Id";
const EXPOSE_HEADERS: &str = "X-Request-Id, Retry-After, WWW-Authenticate";
/// How long a browser may cache a preflight's answer, in seconds.
const PREFLIGHT_MAX_AGE: &str = "600";

#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    /// No `Origin`: not a page's request (or a same-origin GET).
    NotBrowser,
    /// Listed in ALLOWED_ORIGINS: gets CORS headers.
    Listed,
    /// A page served by this server itself, on a loopback name or an IP address.
    SameOrigin,
    Refused(String),
}

/// Middleware for the whole app, inside the request log (so refusals are logged and counted) and
/// before authentication (so a page cannot even probe keys).
pub async fn check_origin<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, actix_web::Error> {
    let allowed = req
        .app_data::<web::Data<Settings>>()
        .map(|s| s.allowed_origins.as_slice())
        .unwrap_or(&[]);
    let verdict = verdict(req.headers(), allowed);
    let origin = req.headers().get(header::ORIGIN).cloned();
    match (verdict, origin) {
        (Verdict::Refused(reason), _) => {
            let mut response = ApiError::ForbiddenOrigin(reason).error_response();
            response
                .headers_mut()
                .append(header::VARY, HeaderValue::from_static("Origin"));
            Ok(req.into_response(response).map_into_right_body())
        }
        (Verdict::Listed, Some(origin))
            if req.method() == Method::OPTIONS
                && req
                    .headers()
                    .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD) =>
        {
            let response = HttpResponse::NoContent()
                .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, origin))
                .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, ALLOW_METHODS))
                .insert_header((header::ACCESS_CONTROL_ALLOW_HEADERS, ALLOW_HEADERS))
                .insert_header((header::ACCESS_CONTROL_MAX_AGE, PREFLIGHT_MAX_AGE))
                .insert_header((header::VARY, "Origin"))
                .finish();
            Ok(req.into_response(response).map_into_right_body())
        }
        (verdict, origin) => {
            let mut res = next.call(req).await?;
            let headers = res.headers_mut();
            // The answer depends on Origin: a cache must not hand one origin's answer to another.
            headers.append(header::VARY, HeaderValue::from_static("Origin"));
            if let (Verdict::Listed, Some(origin)) = (verdict, origin) {
                headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
                headers.insert(
                    header::ACCESS_CONTROL_EXPOSE_HEADERS,
                    HeaderValue::from_static(EXPOSE_HEADERS),
                );
            }
            Ok(res.map_into_left_body())
        }
    }
}

fn verdict(headers: &HeaderMap, allowed: &[String]) -> Verdict {
    let fetch_site = headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let Some(origin) = headers.get(header::ORIGIN) else {
        // Browsers send Origin on every request but same-origin GETs and plain navigations; a
        // cross-site request without one is a page's image or script tag, which has no business here.
        let navigation = headers
            .get("sec-fetch-mode")
            .is_some_and(|m| m.as_bytes() == b"navigate");
        if fetch_site == "cross-site" && !navigation {
            return Verdict::Refused(
                "a cross-site browser request without an Origin is refused".to_string(),
            );
        }
        return Verdict::NotBrowser;
    };
    let Ok(origin) = origin.to_str() else {
        return Verdict::Refused("the Origin header is not valid ASCII".to_string());
    };
    if allowed.iter().any(|a| a.eq_ignore_ascii_case(origin)) {
        return Verdict::Listed;
    }
    let shown: String = origin.chars().take(200).collect();
    if origin == "null" {
        return Verdict::Refused(
            "requests from an opaque origin (Origin: null: a sandboxed frame, a file or a \
             redirect) are refused"
                .to_string(),
        );
    }
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let authority = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"));
    let same_origin = authority.is_some_and(|a| !a.is_empty() && a.eq_ignore_ascii_case(host));
    if same_origin && fetch_site != "cross-site" {
        if is_loopback_or_ip(host) {
            return Verdict::SameOrigin;
        }
        // A page on a domain name that reaches this server may be a DNS rebinding attack: its
        // name was pointed at this server after the page loaded.
        return Verdict::Refused(format!(
            "requests from the web page at {shown} are refused: a page is trusted as this server's \
             own only on a loopback name or an IP address; the operator can list the origin in \
             ALLOWED_ORIGINS"
        ));
    }
    Verdict::Refused(format!(
        "requests from the web page at {shown} are refused: browsers may call this API only from \
         the origins the operator lists in ALLOWED_ORIGINS"
    ))
}

/// `localhost` (and `*.localhost`, which browsers resolve to loopback themselves) or an IP
/// address, with or without a port: names that DNS rebinding cannot use.
fn is_loopback_or_ip(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        // [v6]:port
        match rest.split_once(']') {
            Some((v6, port)) if port.is_empty() || port.strip_prefix(':').is_some_and(is_port) => {
                return v6.parse::<std::net::Ipv6Addr>().is_ok()
            }
            _ => return false,
        }
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) if is_port(port) => name,
            Some(_) => return false,
            None => host,
        }
    };
    let name = name.to_ascii_lowercase();
    name == "localhost"
        || name.ends_with(".localhost")
        || name.parse::<std::net::Ipv4Addr>().is_ok()
}

fn is_port(s: &str) -> bool {
    !s.is_empty() && s.len() <= 5 && s.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::HeaderName;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    fn judge(pairs: &[(&str, &str)]) -> Verdict {
        verdict(&headers(pairs), &["https://app.example.com".to_string()])
    }

    #[test]
    fn requests_without_origin_pass() {
        assert_eq!(judge(&[("host", "evil.example:8080")]), Verdict::NotBrowser);
        assert_eq!(
            judge(&[
                ("sec-fetch-site", "cross-site"),
                ("sec-fetch-mode", "navigate")
            ]),
            Verdict::NotBrowser
        );
        assert!(matches!(
            judge(&[
                ("sec-fetch-site", "cross-site"),
                ("sec-fetch-mode", "no-cors")
            ]),
            Verdict::Refused(_)
        ));
    }

    #[test]
    fn only_listed_origins_get_cors() {
        assert_eq!(
            judge(&[("origin", "https://app.example.com"), ("host", "api:8080")]),
            Verdict::Listed
        );
        for origin in [
            "http://app.example.com",
            "https://app.example.com:444",
            "null",
        ] {
            let v = judge(&[("origin", origin), ("host", "127.0.0.1:8080")]);
            assert!(matches!(v, Verdict::Refused(_)), "{origin}: {v:?}");
        }
    }

    #[test]
    fn own_origin_only_on_loopback_or_ip() {
        for host in [
            "127.0.0.1:8080",
            "localhost:8080",
            "LOCALHOST",
            "api.localhost:1",
            "[::1]:8080",
            "10.0.0.5",
        ] {
            let origin = format!("http://{host}");
            assert_eq!(
                judge(&[("origin", &origin), ("host", host)]),
                Verdict::SameOrigin,
                "{host}"
            );
        }
        // DNS rebinding: the page's own origin, on a domain name.
        let v = judge(&[
            ("origin", "http://evil.example:8080"),
            ("host", "evil.example:8080"),
        ]);
        assert!(matches!(v, Verdict::Refused(_)), "{v:?}");
        // Another port is another origin; a browser that says cross-site is believed.
        let v = judge(&[
            ("origin", "http://127.0.0.1:3000"),
            ("host", "127.0.0.1:8080"),
        ]);
        assert!(matches!(v, Verdict::Refused(_)), "{v:?}");
        let v = judge(&[
            ("origin", "http://127.0.0.1:8080"),
            ("host", "127.0.0.1:8080"),
            ("sec-fetch-site", "cross-site"),
        ]);
        assert!(matches!(v, Verdict::Refused(_)), "{v:?}");
    }

    #[test]
    fn hosts_that_are_not_loopback_or_ip() {
        for host in [
            "",
            "evil.example",
            "127.0.0.1.evil.example",
            "localhost.evil.example",
            "[::1",
            "127.0.0.1:x",
            "1:2:3",
        ] {
            assert!(!is_loopback_or_ip(host), "{host}");
        }
    }
}
