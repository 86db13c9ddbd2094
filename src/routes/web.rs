//! GET /, GET /docs and GET /assets/{name}: the playground, the API reference and their files,
//! from the embedded table (crate::web). No API key: they hold no secret, and the page asks for
//! the key itself (SECURITY.md, "The playground"). Served with a strong ETag (304 on a matching
//! If-None-Match), `Cache-Control: no-cache` (names carry no content hash, so a browser checks
//! back and gets a 304 of a few bytes), gzip when the client takes it, and, on the pages, a strict
//! Content-Security-Policy.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{web, HttpRequest, HttpResponse};

use crate::error::ApiError;
use crate::web::{self as assets, Asset};

/// Our pages load only our own files: no inline script, no other origin, no framing. Figures are
/// shown from `data:` and downloads are `blob:` URLs. Swagger UI's pieces set inline styles, hence
/// `'unsafe-inline'` for styles only (a style cannot run code).
const PAGE_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; object-src 'none'; \
     base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

pub async fn playground(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    serve(&req, "index.html", true)
}

pub async fn docs(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    serve(&req, "docs.html", true)
}

/// The pages' files; the pages themselves only at their own paths.
pub async fn asset(req: HttpRequest, name: web::Path<String>) -> Result<HttpResponse, ApiError> {
    if name.ends_with(".html") {
        return Err(ApiError::NotFound);
    }
    serve(&req, &name, false)
}

fn serve(req: &HttpRequest, name: &str, page: bool) -> Result<HttpResponse, ApiError> {
    let asset = assets::get(name).ok_or(ApiError::NotFound)?;
    let mut response = if matches_etag(req, asset) {
        HttpResponse::NotModified().finish()
    } else {
        match (&asset.gzip, accepts_gzip(req)) {
            (Some(gz), true) => HttpResponse::Ok()
                .insert_header((header::CONTENT_ENCODING, "gzip"))
                .body(gz.clone()),
            _ => HttpResponse::Ok().body(asset.bytes),
        }
    };
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    if let Ok(etag) = HeaderValue::from_str(&asset.etag) {
        headers.insert(header::ETAG, etag);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if asset.gzip.is_some() {
        headers.append(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if page {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(PAGE_CSP),
        );
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        headers.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
    } else {
        // Other sites may not embed our files.
        headers.insert(
            header::CROSS_ORIGIN_RESOURCE_POLICY,
            HeaderValue::from_static("same-origin"),
        );
    }
    Ok(response)
}

/// If-None-Match lists our tag (weakly compared, as RFC 9110 asks for GET) or is `*`.
fn matches_etag(req: &HttpRequest, asset: &Asset) -> bool {
    req.headers()
        .get_all(header::IF_NONE_MATCH)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == asset.etag)
}

/// Accept-Encoding names gzip (or `*`) without `q=0`.
fn accepts_gzip(req: &HttpRequest) -> bool {
    req.headers()
        .get_all(header::ACCEPT_ENCODING)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.split(';').map(str::trim);
            let name = parts.next().unwrap_or("");
            let refused = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        })
}
