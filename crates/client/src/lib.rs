//! A small HTTP client for Warden's REST API, used by the `warden` CLI and the tests.
//!
//! It speaks JSON, sends the API key as a bearer token, and turns every answer into a
//! [`Reply`] (status, headers and body) or, with the typed helpers, into a value or an
//! [`ApiError`] carrying the API's error code and message.

use reqwest::header::{HeaderMap, HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Method, StatusCode};
use serde_json::Value;

/// A client of one server, optionally with an API key.
#[derive(Clone, Debug)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    key: Option<String>,
}

/// An answer of the server, whatever its status.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    /// The body parsed as JSON (`Value::Null` when empty or not JSON).
    pub body: Value,
}

impl Reply {
    /// The revision a write was committed at (`Warden-Revision`).
    pub fn revision(&self) -> Option<u64> {
        self.headers
            .get("warden-revision")?
            .to_str()
            .ok()?
            .parse()
            .ok()
    }

    /// The `ETag` header, unquoted.
    pub fn etag(&self) -> Option<String> {
        Some(
            self.headers
                .get("etag")?
                .to_str()
                .ok()?
                .trim_matches('"')
                .to_owned(),
        )
    }

    /// The error code of an error body.
    pub fn error_code(&self) -> Option<&str> {
        self.body.pointer("/error/code").and_then(Value::as_str)
    }

    /// The error message of an error body.
    pub fn error_message(&self) -> Option<&str> {
        self.body.pointer("/error/message").and_then(Value::as_str)
    }
}

/// An error answer or a transport failure.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{status} {code}: {message}")]
    Api {
        status: StatusCode,
        code: String,
        message: String,
        body: Value,
    },
    #[error("cannot reach the server: {0}")]
    Transport(#[from] reqwest::Error),
}

impl Client {
    /// A client of the server at `base` (`http://127.0.0.1:8080`).
    pub fn new(base: impl Into<String>, key: Option<String>) -> Self {
        // The server closes a connection idle for 75 s (by default): idle connections are
        // dropped well before that, so that a request is never sent on one being closed.
        let http = reqwest::Client::builder()
            .pool_idle_timeout(std::time::Duration::from_secs(15))
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        Client {
            http,
            base: base.into().trim_end_matches('/').to_owned(),
            key,
        }
    }

    /// The same server with another key.
    pub fn with_key(&self, key: impl Into<String>) -> Self {
        Client {
            http: self.http.clone(),
            base: self.base.clone(),
            key: Some(key.into()),
        }
    }

    /// The base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Sends a request with an optional JSON body and extra headers; any status is a reply.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Result<Reply, reqwest::Error> {
        let mut req = self.http.request(method, format!("{}{}", self.base, path));
        if let Some(key) = &self.key {
            req = req.header(AUTHORIZATION, format!("Bearer {key}"));
        }
        if let Some(b) = body {
            req = req
                .header(CONTENT_TYPE, "application/json")
                .body(b.to_string());
        }
        for (k, v) in headers {
            if let (Ok(k), Ok(v)) = (HeaderName::try_from(*k), HeaderValue::try_from(*v)) {
                req = req.header(k, v);
            }
        }
        Self::reply(req.send().await?).await
    }

    /// Sends a raw body with a content type (for malformed-input tests and tools).
    pub async fn send_raw(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> Result<Reply, reqwest::Error> {
        let mut req = self
            .http
            .request(method, format!("{}{}", self.base, path))
            .body(body);
        if let Some(key) = &self.key {
            req = req.header(AUTHORIZATION, format!("Bearer {key}"));
        }
        if let Some(ct) = content_type {
            req = req.header(CONTENT_TYPE, ct);
        }
        Self::reply(req.send().await?).await
    }

    async fn reply(resp: reqwest::Response) -> Result<Reply, reqwest::Error> {
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await?;
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Ok(Reply {
            status,
            headers,
            body,
        })
    }

    pub async fn get(&self, path: &str) -> Result<Reply, reqwest::Error> {
        self.send(Method::GET, path, None, &[]).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Result<Reply, reqwest::Error> {
        self.send(Method::POST, path, Some(body), &[]).await
    }

    pub async fn patch(&self, path: &str, body: &Value) -> Result<Reply, reqwest::Error> {
        self.send(Method::PATCH, path, Some(body), &[]).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Result<Reply, reqwest::Error> {
        self.send(Method::PUT, path, Some(body), &[]).await
    }

    pub async fn delete(&self, path: &str) -> Result<Reply, reqwest::Error> {
        self.send(Method::DELETE, path, None, &[]).await
    }

    /// Sends a request and returns its body on success, or the API's error.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, ApiError> {
        let r = self.send(method, path, body, &[]).await?;
        if r.status.is_success() {
            return Ok(r.body);
        }
        Err(ApiError::Api {
            status: r.status,
            code: r.error_code().unwrap_or("unknown").to_owned(),
            message: r
                .error_message()
                .unwrap_or("the server gave no message")
                .to_owned(),
            body: r.body,
        })
    }

    /// Reads every page of a list.
    pub async fn list_all(&self, path: &str) -> Result<Vec<Value>, ApiError> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let sep = if path.contains('?') { '&' } else { '?' };
            let url = match &cursor {
                Some(c) => format!("{path}{sep}cursor={c}"),
                None => path.to_owned(),
            };
            let page = self.call(Method::GET, &url, None).await?;
            if let Some(arr) = page.get("items").and_then(Value::as_array) {
                items.extend(arr.iter().cloned());
            }
            match page.get("next_cursor").and_then(Value::as_str) {
                Some(c) => cursor = Some(c.to_owned()),
                None => return Ok(items),
            }
        }
    }
}
