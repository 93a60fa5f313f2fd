//! The LAN web UI: assets from `web/`, embedded at compile time and served with content hashes.
//!
//! `build.rs` gzips every file under `web/` into `OUT_DIR` and generates a table read here with
//! `include_bytes!`. Asset URLs carry a content hash of the whole UI (`assets/<UI_VERSION>/app.js`)
//! and are cached for a year (`immutable`); `index.html` is `no-cache` with an ETag, so a browser
//! revalidates it (a 304 on a Pi costs nothing) and picks up new asset URLs after an upgrade.
//! Every response carries a strict CSP (no inline script, no third-party host) and the usual
//! hardening headers. Gzip is served when the client accepts it.
//!
//! Routes: `GET /index.html`, `GET /assets/{version}/{*file}`, and a router fallback that serves
//! index.html for a plain `GET /` (404 for any other unknown path). The relay owns `GET /` for
//! WebSocket upgrades and `Accept: application/nostr+json`. If the relay registers `/` as a route
//! (so the fallback never sees `GET /`), either its handler calls [`index_response`] for plain
//! requests, or the server wraps the app in `axum::middleware::from_fn(ui::root_middleware)`,
//! which answers plain `GET /` with the UI before routing and passes everything else on.

use axum::Router;
use axum::body::Body;
use axum::extract::Path;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

include!(concat!(env!("OUT_DIR"), "/ui_assets.rs"));

/// Content-Security-Policy sent with every UI response.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'";

/// Upper bound for the whole UI, gzip-compressed (issue 8).
pub const MAX_COMPRESSED_BYTES: usize = 150 * 1024;

/// One embedded file.
#[derive(Clone, Copy, Debug)]
pub struct Asset {
    /// Path under `web/`, e.g. `assets/app.js`.
    pub path: &'static str,
    /// Uncompressed bytes (index.html already has hashed asset URLs).
    pub raw: &'static [u8],
    /// Gzip of `raw`.
    pub gz: &'static [u8],
}

/// All embedded files.
pub fn assets() -> impl Iterator<Item = Asset> {
    UI_FILES
        .iter()
        .map(|(path, raw, gz)| Asset { path, raw, gz })
}

/// The embedded file at `path` (relative to `web/`).
pub fn asset(path: &str) -> Option<Asset> {
    assets().find(|a| a.path == path)
}

/// Sum of the gzip sizes of every embedded file (what a browser downloads on a cold load).
pub fn compressed_total() -> usize {
    assets().map(|a| a.gz.len().min(a.raw.len())).sum()
}

/// The UI routes, ready to be merged into the server's router.
/// It owns the router fallback (plain `GET /` → index.html; other unknown paths → 404), so merge
/// it into a router that has no fallback of its own.
pub fn router() -> Router {
    Router::new()
        .route("/index.html", get(index))
        .route("/assets/{version}/{*file}", get(asset_handler))
        .fallback(fallback)
}

async fn index(headers: HeaderMap) -> Response {
    index_response(&headers)
}

async fn fallback(method: Method, uri: Uri, headers: HeaderMap) -> Response {
    if (method == Method::GET || method == Method::HEAD)
        && uri.path() == "/"
        && !is_relay_request(&headers)
    {
        return index_response(&headers);
    }
    not_found()
}

/// True for a request the relay must answer on `/`: a WebSocket upgrade or a NIP-11 query.
pub fn is_relay_request(headers: &HeaderMap) -> bool {
    let upgrade = headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    let nip11 = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.to_ascii_lowercase().contains("application/nostr+json"));
    upgrade || nip11
}

/// Middleware: answers a plain `GET /` (not a WebSocket upgrade, not NIP-11) with index.html and
/// passes every other request on. For servers whose relay registers `/` as a route.
pub async fn root_middleware(req: Request, next: Next) -> Response {
    let plain_root = (req.method() == Method::GET || req.method() == Method::HEAD)
        && req.uri().path() == "/"
        && !is_relay_request(req.headers());
    if plain_root {
        return index_response(req.headers());
    }
    next.run(req).await
}

async fn asset_handler(
    Path((version, file)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    asset_response(&version, &file, &headers)
}

fn content_type(path: &str) -> &'static str {
    let ext = path.rsplit('.').next().unwrap_or("");
    match ext {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "json" | "webmanifest" => "application/manifest+json",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// True when `Accept-Encoding` lists gzip (or `*`) with a non-zero q-value.
pub fn accepts_gzip(headers: &HeaderMap) -> bool {
    let mut gzip = None;
    let mut star = None;
    for value in headers.get_all(header::ACCEPT_ENCODING) {
        let Ok(value) = value.to_str() else { continue };
        for item in value.split(',') {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let mut q = 1.0_f32;
            for p in parts {
                let p = p.trim();
                if let Some(v) = p.strip_prefix("q=").or_else(|| p.strip_prefix("Q=")) {
                    q = v.trim().parse().unwrap_or(0.0);
                }
            }
            match coding.as_str() {
                "gzip" | "x-gzip" => gzip = Some(q > 0.0),
                "*" => star = Some(q > 0.0),
                _ => {}
            }
        }
    }
    gzip.or(star).unwrap_or(false)
}

fn security_headers(h: &mut HeaderMap) {
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        "cross-origin-resource-policy",
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        "permissions-policy",
        HeaderValue::from_static("camera=(), microphone=(), geolocation=(), payment=(), usb=()"),
    );
}

fn etag_for(a: &Asset) -> String {
    format!("\"{UI_VERSION}-{}\"", a.raw.len())
}

fn not_found() -> Response {
    let mut r = (StatusCode::NOT_FOUND, "Not found").into_response();
    security_headers(r.headers_mut());
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn respond(a: Asset, headers: &HeaderMap, cache: &'static str) -> Response {
    let etag = etag_for(&a);
    let matches_etag = headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| {
            let t = t.trim();
            t == "*" || t.trim_start_matches("W/") == etag
        });
    let use_gz = a.gz.len() < a.raw.len() && accepts_gzip(headers);
    let mut resp = if matches_etag {
        let mut r = Response::new(Body::empty());
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r
    } else {
        let body: &'static [u8] = if use_gz { a.gz } else { a.raw };
        let mut r = Response::new(Body::from(body));
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(content_type(a.path)),
        );
        if use_gz {
            r.headers_mut()
                .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        r
    };
    let h = resp.headers_mut();
    security_headers(h);
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    resp
}

/// `index.html` (no-cache, ETag, gzip when accepted, CSP). For the server's `GET /` handler.
pub fn index_response(headers: &HeaderMap) -> Response {
    match asset("index.html") {
        Some(a) => respond(a, headers, "no-cache"),
        None => not_found(),
    }
}

/// One hashed asset: `version` must be the current [`UI_VERSION`] (an old page asking for an
/// old asset gets a 404, never a stale file cached for a year under the wrong name).
pub fn asset_response(version: &str, file: &str, headers: &HeaderMap) -> Response {
    if version != UI_VERSION || file.contains("..") || file.starts_with('/') {
        return not_found();
    }
    match asset(&format!("assets/{file}")) {
        Some(a) => respond(a, headers, "public, max-age=31536000, immutable"),
        None => not_found(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hdrs(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn total_compressed_weight_is_within_budget() {
        let total = compressed_total();
        for a in assets() {
            println!(
                "{:<28} raw {:>7}  gzip {:>6}",
                a.path,
                a.raw.len(),
                a.gz.len()
            );
        }
        println!(
            "total gzip {total} bytes ({:.1} KiB)",
            total as f64 / 1024.0
        );
        assert!(total > 0, "no UI embedded");
        assert!(
            total <= MAX_COMPRESSED_BYTES,
            "UI is {total} bytes compressed, budget {MAX_COMPRESSED_BYTES}"
        );
    }

    #[test]
    fn gzip_is_valid_and_header_is_deterministic() {
        for a in assets() {
            assert_eq!(&a.gz[..3], &[0x1f, 0x8b, 8], "{} is not gzip", a.path);
            // ISIZE trailer = raw length mod 2^32.
            let n = a.gz.len();
            let isize = u32::from_le_bytes([a.gz[n - 4], a.gz[n - 3], a.gz[n - 2], a.gz[n - 1]]);
            assert_eq!(isize as usize, a.raw.len(), "{}", a.path);
        }
    }

    #[test]
    fn index_references_only_existing_hashed_assets() {
        let idx = asset("index.html").expect("index.html embedded");
        let html = std::str::from_utf8(idx.raw).expect("utf8");
        let prefix = format!("\"assets/{UI_VERSION}/");
        let mut seen = 0;
        for (pos, _) in html.match_indices(&prefix) {
            let rest = &html[pos + prefix.len()..];
            let end = rest.find('"').expect("closing quote");
            let file = &rest[..end];
            assert!(asset(&format!("assets/{file}")).is_some(), "missing {file}");
            seen += 1;
        }
        assert!(
            seen >= 2,
            "index.html should load the stylesheet and the app"
        );
        assert!(!html.contains("\"assets/app"), "unrewritten asset URL");
        assert!(!html.contains("<script>"), "inline script breaks the CSP");
        assert!(!html.contains("style=\""), "inline style breaks the CSP");
    }

    #[test]
    fn no_external_urls_in_assets() {
        for a in assets() {
            let text = String::from_utf8_lossy(a.raw);
            for bad in ["https://", "//cdn", "fonts.googleapis", "@import url(http"] {
                assert!(!text.contains(bad), "{} references {bad}", a.path);
            }
        }
    }

    #[test]
    fn index_headers() {
        let r = index_response(&hdrs(&[("accept-encoding", "gzip, deflate, br")]));
        assert_eq!(r.status(), StatusCode::OK);
        let h = r.headers();
        assert_eq!(h[header::CONTENT_SECURITY_POLICY], CSP);
        assert_eq!(h[header::CACHE_CONTROL], "no-cache");
        assert_eq!(h[header::CONTENT_ENCODING], "gzip");
        assert_eq!(h[header::CONTENT_TYPE], "text/html; charset=utf-8");
        assert_eq!(h[header::X_FRAME_OPTIONS], "DENY");
        assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert!(CSP.contains("script-src 'self';") && CSP.contains("frame-ancestors 'none'"));

        let plain = index_response(&HeaderMap::new());
        assert!(plain.headers().get(header::CONTENT_ENCODING).is_none());

        let etag = h[header::ETAG].to_str().unwrap().to_string();
        let mut cond = HeaderMap::new();
        cond.insert(header::IF_NONE_MATCH, HeaderValue::from_str(&etag).unwrap());
        let r304 = index_response(&cond);
        assert_eq!(r304.status(), StatusCode::NOT_MODIFIED);
    }

    #[test]
    fn asset_headers_and_versioning() {
        let ok = asset_response(UI_VERSION, "app.js", &HeaderMap::new());
        assert_eq!(ok.status(), StatusCode::OK);
        assert_eq!(
            ok.headers()[header::CACHE_CONTROL],
            "public, max-age=31536000, immutable"
        );
        assert_eq!(
            ok.headers()[header::CONTENT_TYPE],
            "text/javascript; charset=utf-8"
        );
        assert_eq!(
            asset_response("000000000000", "app.js", &HeaderMap::new()).status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            asset_response(UI_VERSION, "../index.html", &HeaderMap::new()).status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            asset_response(UI_VERSION, "nope.js", &HeaderMap::new()).status(),
            StatusCode::NOT_FOUND
        );
    }

    #[test]
    fn relay_requests_are_recognised() {
        assert!(is_relay_request(&hdrs(&[("upgrade", "websocket")])));
        assert!(is_relay_request(&hdrs(&[(
            "accept",
            "application/nostr+json"
        )])));
        assert!(!is_relay_request(&hdrs(&[("accept", "text/html,*/*")])));
        assert!(!is_relay_request(&HeaderMap::new()));
    }

    #[test]
    fn accept_encoding_parsing() {
        assert!(accepts_gzip(&hdrs(&[("accept-encoding", "gzip")])));
        assert!(accepts_gzip(&hdrs(&[(
            "accept-encoding",
            "br;q=1.0, gzip;q=0.8"
        )])));
        assert!(accepts_gzip(&hdrs(&[("accept-encoding", "*")])));
        assert!(!accepts_gzip(&hdrs(&[("accept-encoding", "gzip;q=0")])));
        assert!(!accepts_gzip(&hdrs(&[("accept-encoding", "gzip;q=0, *")])));
        assert!(!accepts_gzip(&hdrs(&[("accept-encoding", "identity")])));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }

    async fn raw_get(addr: std::net::SocketAddr, path: &str, extra: &str) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{extra}\r\n");
        s.write_all(req.as_bytes()).await.expect("write");
        let mut out = Vec::new();
        s.read_to_end(&mut out).await.expect("read");
        String::from_utf8_lossy(&out).into_owned()
    }

    #[tokio::test]
    async fn router_serves_root_assets_and_404s() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let app = router().layer(axum::middleware::from_fn(root_middleware));
        tokio::spawn(async move { axum::serve(listener, app).await });

        let root = raw_get(addr, "/", "").await;
        assert!(root.starts_with("HTTP/1.1 200"), "{root}");
        assert!(root.contains("<title>Frostbox</title>"));
        assert!(
            root.to_ascii_lowercase()
                .contains("content-security-policy: default-src 'self'")
        );

        let js = raw_get(
            addr,
            &format!("/assets/{UI_VERSION}/app.js"),
            "Accept-Encoding: gzip\r\n",
        )
        .await;
        assert!(js.starts_with("HTTP/1.1 200"), "{js}");
        assert!(js.to_ascii_lowercase().contains("content-encoding: gzip"));
        assert!(js.to_ascii_lowercase().contains("immutable"));

        let missing = raw_get(addr, "/nope", "").await;
        assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");
        // A WebSocket upgrade on / is the relay's: the UI must not answer it with index.html.
        let ws = raw_get(addr, "/", "Upgrade: websocket\r\nConnection: Upgrade\r\n").await;
        assert!(!ws.contains("<title>Frostbox</title>"), "{ws}");
    }
}
