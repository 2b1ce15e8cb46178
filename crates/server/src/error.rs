//! The one error body of the API: `{"error": {"code", "message", "details"}}`.
//!
//! Messages say what was wrong and what to change. 5xx bodies are generic; their causes go
//! to the log, never to the client.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use warden_store::StoreError;

/// An error as the API reports it.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub details: Value,
    /// Seconds, for 429 and 503.
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            details: json!({}),
            retry_after: None,
        }
    }

    pub fn with_code(mut self, code: &'static str) -> Self {
        self.code = code;
        self
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }

    /// Names the form field the error belongs to (`details.field`), unless it names one.
    pub fn with_field(mut self, field: &str) -> Self {
        match &mut self.details {
            Value::Object(map) => {
                map.entry("field").or_insert_with(|| Value::from(field));
            }
            _ => self.details = json!({"field": field}),
        }
        self
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }

    pub fn not_found(kind: &str, id: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{kind} `{id}` not found"),
        )
    }

    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthenticated", message)
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the server failed to handle this request; it has been logged, retry later",
        )
    }

    /// 429 with the wait, in seconds, before trying again.
    pub fn too_many(message: impl Into<String>, retry_after: u64) -> Self {
        let mut e = Self::new(StatusCode::TOO_MANY_REQUESTS, "too_many_attempts", message);
        e.retry_after = Some(retry_after);
        e
    }

    /// 503 when this instance already handles as many requests as it may at once.
    pub fn overloaded(limit: usize) -> Self {
        let mut e = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            format!(
                "this instance is handling {limit} requests already, its limit; retry in a moment, or spread the load over more instances"
            ),
        );
        e.retry_after = Some(1);
        e
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        let mut e = Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message);
        e.retry_after = Some(1);
        e
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body =
            json!({"error": {"code": self.code, "message": self.message, "details": self.details}});
        let mut resp = (self.status, axum::Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        resp
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { kind, id } => ApiError::not_found(kind, id),
            StoreError::Conflict {
                code,
                message,
                details,
            } => ApiError::new(StatusCode::CONFLICT, code, message).with_details(details),
            StoreError::Unprocessable {
                code,
                message,
                details,
            } => ApiError::unprocessable(code, message).with_details(details),
            StoreError::Forbidden { code, message } => {
                ApiError::new(StatusCode::FORBIDDEN, code, message)
            }
            e @ StoreError::VersionMismatch { .. } => ApiError::new(
                StatusCode::PRECONDITION_FAILED,
                "version_mismatch",
                e.to_string(),
            ),
            e if e.is_unavailable() => {
                tracing::error!(error = %e, "database unavailable");
                ApiError::unavailable(
                    "the database cannot be reached right now, so this request could not be \
                     completed; decisions are still answered at the last applied revision; \
                     retry later",
                )
            }
            e => {
                tracing::error!(error = %e, "store error");
                ApiError::internal()
            }
        }
    }
}

impl From<warden_model::NameError> for ApiError {
    fn from(e: warden_model::NameError) -> Self {
        let field = match &e {
            warden_model::NameError::Empty { field }
            | warden_model::NameError::TooLong { field, .. }
            | warden_model::NameError::Control { field } => *field,
        };
        ApiError::bad_request("invalid_field", e.to_string()).with_details(json!({"field": field}))
    }
}

impl From<warden_model::IdError> for ApiError {
    fn from(e: warden_model::IdError) -> Self {
        ApiError::bad_request("invalid_id", e.to_string())
    }
}
