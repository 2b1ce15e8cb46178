//! What one request may take, enforced before any handler runs, each refusal in the API's
//! error body with what to change:
//!
//! - its head (request line and headers) at most `max_header_bytes` (431);
//! - at most `max_concurrent_requests` requests handled at once: one more is refused at
//!   once (503 `overloaded`, `Retry-After: 1`) rather than queued, so that a burst cannot
//!   pile up memory and latency behind it;
//! - at most `request_timeout` from its head to its answer, body reading included, so a
//!   client that sends its body slowly holds a slot no longer than that (408).
//!
//! The body's size is bounded by `DefaultBodyLimit` and the extractors (413), lists,
//! batches, names and descriptions by the routes and the model's types.

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::state::AppState;

/// The size of a request's head as received: the request line and every header line.
fn head_bytes(req: &Request) -> usize {
    let line = req.method().as_str().len() + req.uri().to_string().len() + 12;
    req.headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum::<usize>()
        + line
}

/// Applies the limits to every request.
pub async fn enforce(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let config = state.config();
    let head = head_bytes(&req);
    if head > config.max_header_bytes {
        return ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large",
            format!(
                "the request's line and headers take {head} bytes; at most {} are accepted: send fewer or shorter headers",
                config.max_header_bytes
            ),
        )
        .into_response();
    }
    let Ok(_slot) = state.in_flight().try_acquire() else {
        return ApiError::overloaded(config.max_concurrent_requests).into_response();
    };
    match tokio::time::timeout(config.request_timeout, next.run(req)).await {
        Ok(resp) => resp,
        Err(_) => ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "timeout",
            format!(
                "the request did not finish within {} s and was stopped; a write it made may have been committed, so read before you retry it",
                config.request_timeout.as_secs_f64()
            ),
        )
        .into_response(),
    }
}
