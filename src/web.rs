//! The files of the playground (`GET /`) and of the API reference (`GET /docs`), embedded in the
//! binary: nothing is read from disk or fetched at run time, so the pages work on a host without
//! internet. Our own files are in web/; the third-party ones in web/vendor/ are copied from pinned
//! npm packages by scripts/vendor-web.sh (and checked byte for byte by scripts/ci-lint.sh).
//!
//! Each file gets, once, on the first request for any of them (so that servers that never serve
//! a page, the test suites' hundreds among them, pay nothing): a strong ETag (a hash of its bytes)
//! and, for text worth compressing, its gzip form. A request then costs a table lookup and a copy
//! of a reference, never a compression.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::sync::LazyLock;

/// One embedded file, as served.
pub struct Asset {
    pub content_type: &'static str,
    pub bytes: &'static [u8],
    /// The gzip form, when it is smaller by a worthwhile margin (`Bytes`: a response shares it
    /// instead of copying it).
    pub gzip: Option<actix_web::web::Bytes>,
    /// A strong ETag, quoted, as the `ETag` header carries it.
    pub etag: String,
}

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const TEXT: &str = "text/plain; charset=utf-8";

/// name -> (content type, bytes). The pages are `index.html` and `docs.html`; the rest are served
/// under /assets/<name>.
const FILES: &[(&str, &str, &[u8])] = &[
    ("index.html", HTML, include_bytes!("../web/index.html")),
    ("docs.html", HTML, include_bytes!("../web/docs.html")),
    ("app.js", JS, include_bytes!("../web/app.js")),
    ("app.css", CSS, include_bytes!("../web/app.css")),
    ("docs.js", JS, include_bytes!("../web/docs.js")),
    ("docs.css", CSS, include_bytes!("../web/docs.css")),
    (
        "codemirror.js",
        JS,
        include_bytes!("../web/vendor/codemirror.js"),
    ),
    (
        "codemirror.css",
        CSS,
        include_bytes!("../web/vendor/codemirror.css"),
    ),
    ("python.js", JS, include_bytes!("../web/vendor/python.js")),
    (
        "matchbrackets.js",
        JS,
        include_bytes!("../web/vendor/matchbrackets.js"),
    ),
    ("lint.js", JS, include_bytes!("../web/vendor/lint.js")),
    ("lint.css", CSS, include_bytes!("../web/vendor/lint.css")),
    (
        "LICENSE.codemirror",
        TEXT,
        include_bytes!("../web/vendor/LICENSE.codemirror"),
    ),
    (
        "swagger-ui-bundle.js",
        JS,
        include_bytes!("../web/vendor/swagger-ui-bundle.js"),
    ),
    (
        "swagger-ui.css",
        CSS,
        include_bytes!("../web/vendor/swagger-ui.css"),
    ),
    (
        "LICENSE.swagger-ui-dist",
        TEXT,
        include_bytes!("../web/vendor/LICENSE.swagger-ui-dist"),
    ),
];

/// Below this size, gzip's header and the `Vary` it forces are not worth it.
const MIN_GZIP_BYTES: usize = 512;

static ASSETS: LazyLock<HashMap<&'static str, Asset>> = LazyLock::new(|| {
    FILES
        .iter()
        .map(|&(name, content_type, bytes)| {
            let asset = Asset {
                content_type,
                bytes,
                gzip: compressible(content_type, bytes)
                    .then(|| gzip(bytes))
                    .flatten()
                    .map(actix_web::web::Bytes::from),
                etag: etag(bytes),
            };
            (name, asset)
        })
        .collect()
});

/// The embedded file called `name`, if there is one.
pub fn get(name: &str) -> Option<&'static Asset> {
    ASSETS.get(name)
}

/// Every embedded file's name (the tests fetch each one).
pub fn names() -> impl Iterator<Item = &'static str> {
    FILES.iter().map(|&(name, _, _)| name)
}

fn compressible(content_type: &str, bytes: &[u8]) -> bool {
    content_type.starts_with("text/") && bytes.len() >= MIN_GZIP_BYTES
}

/// The gzip form, if smaller by at least a tenth. Writing into a Vec cannot fail; were it to,
/// the file is simply served uncompressed.
fn gzip(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes).ok()?;
    let compressed = encoder.finish().ok()?;
    (compressed.len() < bytes.len() - bytes.len() / 10).then_some(compressed)
}

/// A strong validator: SipHash of the bytes (std's, with its fixed keys, so every instance of a
/// build gives the same tag) and the length.
fn etag(bytes: &[u8]) -> String {
    let mut hasher = std::hash::DefaultHasher::new();
    bytes.hash(&mut hasher);
    format!("\"{:016x}-{:x}\"", hasher.finish(), bytes.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn every_file_is_there_with_a_distinct_etag_and_a_faithful_gzip() {
        let mut tags = std::collections::HashSet::new();
        for name in names() {
            let asset = get(name).unwrap();
            assert!(!asset.bytes.is_empty(), "{name} is empty");
            assert!(tags.insert(asset.etag.clone()), "{name}'s ETag repeats");
            if let Some(gz) = &asset.gzip {
                let mut out = Vec::new();
                flate2::read::GzDecoder::new(gz.as_ref())
                    .read_to_end(&mut out)
                    .unwrap();
                assert_eq!(
                    out, asset.bytes,
                    "{name}'s gzip form decodes to something else"
                );
            }
        }
        // The big text files are worth compressing.
        assert!(get("swagger-ui-bundle.js").unwrap().gzip.is_some());
        assert!(get("codemirror.js").unwrap().gzip.is_some());
    }
}
