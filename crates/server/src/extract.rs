//! Extractors whose rejections speak the API's error body, so that a malformed request gets
//! the same kind of answer as a broken rule.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use base64::Engine as _;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::json;
use warden_store::Page;

use crate::error::ApiError;

/// A JSON body. Syntax errors, wrong types, unknown fields and a missing content type are
/// refused with a 4xx that names the problem.
pub struct Json<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Json(v)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(r: JsonRejection) -> ApiError {
    match r {
        JsonRejection::JsonDataError(e) => {
            // serde's message names the field and the expected type.
            let inner = std::error::Error::source(&e)
                .map(|s| s.to_string())
                .unwrap_or_else(|| e.body_text());
            ApiError::bad_request(
                "invalid_body",
                format!("the request body does not match the expected shape: {inner}"),
            )
        }
        JsonRejection::JsonSyntaxError(e) => {
            let inner = std::error::Error::source(&e)
                .map(|s| s.to_string())
                .unwrap_or_else(|| e.body_text());
            ApiError::bad_request(
                "invalid_json",
                format!("the request body is not valid JSON: {inner}"),
            )
        }
        JsonRejection::MissingJsonContentType(_) => unsupported_media_type(),
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => body_too_large(),
        other => ApiError::new(other.status(), "invalid_body", other.body_text()),
    }
}

/// A JSON body kept as bytes, for handlers that parse it into borrowed fields with
/// [`parse_json`] (large bodies, such as batches, without a copy of every string). The
/// content type and size are checked as [`Json`] checks them.
pub struct JsonBytes(pub axum::body::Bytes);

impl<S: Send + Sync> FromRequest<S> for JsonBytes {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        if !json_content_type(req.headers()) {
            return Err(unsupported_media_type());
        }
        match axum::body::Bytes::from_request(req, state).await {
            Ok(bytes) => Ok(JsonBytes(bytes)),
            Err(r) if r.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(body_too_large()),
            Err(r) => Err(ApiError::new(r.status(), "invalid_body", r.body_text())),
        }
    }
}

/// `application/json`, or any `application/...+json`, with or without parameters.
fn json_content_type(headers: &axum::http::HeaderMap) -> bool {
    let Some(value) = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or_default().trim();
    let Some((kind, sub)) = essence.split_once('/') else {
        return false;
    };
    kind.eq_ignore_ascii_case("application")
        && (sub.eq_ignore_ascii_case("json")
            || sub.len() > 5 && sub[sub.len() - 5..].eq_ignore_ascii_case("+json"))
}

/// Parses a JSON body into `T`, which may borrow from it, with the errors of [`Json`].
///
/// The body is checked as UTF-8 once, then parsed without tracking where the parser is; only
/// a body that fails is parsed again, tracking the path, for a message that names the field.
pub fn parse_json<'de, T: Deserialize<'de>>(bytes: &'de [u8]) -> Result<T, ApiError> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        ApiError::bad_request(
            "invalid_json",
            format!("the request body is not valid JSON: it is not UTF-8 ({e})"),
        )
    })?;
    match serde_json::from_str(text) {
        Ok(value) => Ok(value),
        Err(plain) => {
            let mut de = serde_json::Deserializer::from_str(text);
            let tracked = serde_path_to_error::deserialize::<_, T>(&mut de)
                .map_err(|e| body_error(e.inner().classify(), &e))
                .and_then(|_| de.end().map_err(|e| body_error(e.classify(), &e)));
            // The tracked parse fails as the plain one did; should it not, say what the plain
            // one said.
            Err(tracked
                .err()
                .unwrap_or_else(|| body_error(plain.classify(), &plain)))
        }
    }
}

fn body_error(category: serde_json::error::Category, e: &dyn std::fmt::Display) -> ApiError {
    if category == serde_json::error::Category::Data {
        ApiError::bad_request(
            "invalid_body",
            format!("the request body does not match the expected shape: {e}"),
        )
    } else {
        ApiError::bad_request(
            "invalid_json",
            format!("the request body is not valid JSON: {e}"),
        )
    }
}

fn body_too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "body_too_large",
        "the request body is larger than the server accepts; send less at once",
    )
}

fn unsupported_media_type() -> ApiError {
    ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        "send the body as JSON with the header `Content-Type: application/json`",
    )
}

/// A query string, refused with a 400 naming the parameter when it does not parse.
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(Query(v)),
            Err(QueryRejection::FailedToDeserializeQueryString(e)) => {
                let inner = std::error::Error::source(&e)
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| e.body_text());
                Err(ApiError::bad_request(
                    "invalid_query",
                    format!("the query string is not valid: {inner}"),
                ))
            }
            Err(other) => Err(ApiError::bad_request("invalid_query", other.body_text())),
        }
    }
}

/// The most items one page may hold.
pub const MAX_PAGE: u32 = 100;
/// Items per page when `limit` is not given.
pub const DEFAULT_PAGE: u32 = 50;

/// `?limit=&cursor=` of a list.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// How many items to return: 1 to 100, default 50.
    #[schemars(range(min = 1, max = 100))]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl PageQuery {
    /// Checks the parameters and turns them into a store page.
    pub fn page(&self) -> Result<Page, ApiError> {
        let limit = self.limit.unwrap_or(DEFAULT_PAGE);
        if limit == 0 || limit > MAX_PAGE {
            return Err(ApiError::bad_request(
                "invalid_query",
                format!("`limit` must be between 1 and {MAX_PAGE}; it was {limit}"),
            )
            .with_details(json!({"field": "limit"})));
        }
        let after = match self.cursor.as_deref() {
            None | Some("") => None,
            Some(c) => Some(decode_cursor(c).ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_cursor",
                    "`cursor` is not a cursor this API returned; pass the `next_cursor` of the previous page unchanged",
                )
                .with_details(json!({"field": "cursor"}))
            })?),
        };
        Ok(Page { limit, after })
    }
}

/// Makes the opaque cursor for "after this id".
pub fn encode_cursor(after: uuid::Uuid) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("a:{after}"))
}

fn decode_cursor(c: &str) -> Option<uuid::Uuid> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(c)
        .ok()?;
    let text = String::from_utf8(bytes).ok()?;
    uuid::Uuid::try_parse(text.strip_prefix("a:")?).ok()
}

/// The `If-Match` header: the version the client last saw.
pub struct IfMatch(pub Option<i64>);

impl<S: Send + Sync> FromRequestParts<S> for IfMatch {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let Some(v) = parts.headers.get(axum::http::header::IF_MATCH) else {
            return Ok(IfMatch(None));
        };
        let text = v.to_str().unwrap_or_default().trim();
        if text == "*" {
            return Ok(IfMatch(None));
        }
        let bare = text.trim_start_matches("W/").trim_matches('"');
        bare.parse::<i64>().map(|n| IfMatch(Some(n))).map_err(|_| {
            ApiError::bad_request(
                "invalid_header",
                "`If-Match` must be the `ETag` of the object (its version, such as `\"3\"`) or `*`",
            )
        })
    }
}

/// `?cascade=true` of a delete.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteQuery {
    /// Also remove what depends on the object (roles using a policy, members holding a role).
    #[serde(default)]
    pub cascade: bool,
}
