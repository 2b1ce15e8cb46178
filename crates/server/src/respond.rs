//! Response helpers: every write carries its revision, every object its version as `ETag`.

use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// The header that carries the revision a write was committed at.
pub const REVISION_HEADER: HeaderName = HeaderName::from_static("warden-revision");

/// A JSON response with optional revision and version headers.
pub fn json<T: Serialize>(
    status: StatusCode,
    body: &T,
    revision: Option<u64>,
    version: Option<i64>,
) -> Response {
    let mut resp = (status, axum::Json(body)).into_response();
    let h = resp.headers_mut();
    if let Some(rev) = revision {
        if let Ok(v) = HeaderValue::from_str(&rev.to_string()) {
            h.insert(REVISION_HEADER, v);
        }
    }
    if let Some(ver) = version {
        if let Ok(v) = HeaderValue::from_str(&format!("\"{ver}\"")) {
            h.insert(axum::http::header::ETAG, v);
        }
    }
    resp
}
