//! What one request may take (the head's size, the slots of requests handled at once, the
//! time it may run) and the throttling of failed authentications by client address: each
//! refusal with its status, the API's error body, and `Retry-After` where waiting helps.
//! Body, batch, page, name and description limits are in `bad_input.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{spawn_app_with_config, TestApp};
use serde_json::{json, Value};
use warden_model::Catalogue;

async fn app_with(configure: impl FnOnce(&mut warden_server::ServerConfig)) -> TestApp {
    spawn_app_with_config(Catalogue::default_llmops(), configure).await
}

/// A decision asked at a revision the server will not reach: it waits the consistency
/// wait, holding its slot all along.
fn waiting_check(app: &TestApp) -> reqwest::RequestBuilder {
    reqwest::Client::new()
        .post(format!("{}/v1/check", app.base))
        .bearer_auth(&app.owner_key)
        .json(&json!({
            "principal": format!("user:{}", uuid::Uuid::nil()),
            "permission": "dataset:read",
            "org_id": app.org_id,
            "min_revision": 1_000_000,
        }))
}

async fn error_of(r: reqwest::Response) -> (u16, Option<String>, Value) {
    let status = r.status().as_u16();
    let retry = r
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, retry, r.json().await.unwrap())
}

#[tokio::test]
async fn headers_over_the_limit_are_refused_with_431_saying_the_limit() {
    let app = app_with(|c| c.max_header_bytes = 4096).await;
    let http = reqwest::Client::new();
    let r = http
        .get(format!("{}/v1/me", app.base))
        .bearer_auth(&app.owner_key)
        .header("x-padding", "p".repeat(5000))
        .send()
        .await
        .unwrap();
    let (status, _, body) = error_of(r).await;
    assert_eq!(status, 431, "{body}");
    assert_eq!(body["error"]["code"], "headers_too_large");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("at most 4096"), "{message}");
    // Under the limit, the same request is answered.
    let r = http
        .get(format!("{}/v1/me", app.base))
        .bearer_auth(&app.owner_key)
        .header("x-padding", "p".repeat(1000))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn a_request_beyond_the_concurrency_limit_is_refused_at_once_not_queued() {
    let app = app_with(|c| {
        c.max_concurrent_requests = 1;
        c.consistency_wait = Duration::from_secs(3);
    })
    .await;
    // One request holds the only slot, waiting for a revision that never comes.
    let holder = tokio::spawn(waiting_check(&app).send());
    // Another is refused as soon as the slot is taken (and not before: retry until then).
    let http = reqwest::Client::new();
    let mut refused = None;
    for _ in 0..500 {
        let r = http
            .get(format!("{}/healthz", app.base))
            .send()
            .await
            .unwrap();
        if r.status() == 503 {
            refused = Some(error_of(r).await);
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (_, retry, body) = refused.expect("a second request refused while the first runs");
    assert!(!holder.is_finished(), "refused while the first still ran");
    assert_eq!(body["error"]["code"], "overloaded", "{body}");
    assert_eq!(retry.as_deref(), Some("1"));
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("handling 1 requests already"));
    // Once it is answered, the slot is free again.
    let first = holder.await.unwrap().unwrap();
    // Once its wait is over, a revision never written is refused (422 `unknown_revision`).
    assert_eq!(first.status(), 422, "the held check ends refused");
    let r = http
        .get(format!("{}/healthz", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn a_request_over_its_time_is_stopped_with_408_saying_so() {
    let app = app_with(|c| {
        c.request_timeout = Duration::from_millis(300);
        c.consistency_wait = Duration::from_secs(30);
    })
    .await;
    let r = waiting_check(&app).send().await.unwrap();
    let (status, _, body) = error_of(r).await;
    assert_eq!(status, 408, "{body}");
    assert_eq!(body["error"]["code"], "timeout");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("within 0.3 s"), "{message}");
    assert!(message.contains("read before you retry"), "{message}");
}

#[tokio::test]
async fn a_body_sent_too_slowly_is_stopped_with_408() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = app_with(|c| c.request_timeout = Duration::from_millis(300)).await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    let mut conn = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /v1/check HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{",
        app.owner_key
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    // The rest of the body never comes; the server answers on its own.
    let mut answer = Vec::new();
    let _ = conn.read_to_end(&mut answer).await;
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("\"code\":\"timeout\""), "{text}");
}

#[tokio::test]
async fn a_connection_slow_to_send_its_head_or_idle_too_long_is_closed() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = app_with(|c| c.header_read_timeout = Duration::from_millis(400)).await;
    let addr = app.base.trim_start_matches("http://").to_owned();

    // Half a request line, and nothing more: the server closes the connection.
    let mut slow = tokio::net::TcpStream::connect(&addr).await.unwrap();
    slow.write_all(b"GET /healthz HT").await.unwrap();
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(10), slow.read_to_end(&mut rest)).await;
    assert!(
        closed.is_ok(),
        "a connection sending half a head was kept open"
    );
    assert!(
        !String::from_utf8_lossy(&rest).contains(" 200 "),
        "{}",
        String::from_utf8_lossy(&rest)
    );

    // A connection that never sends a byte is closed too.
    let mut silent = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let closed = tokio::time::timeout(Duration::from_secs(10), silent.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "a silent connection was kept open");

    // A kept-alive connection is answered, then closed once idle past the limit.
    let mut idle = tokio::net::TcpStream::connect(&addr).await.unwrap();
    idle.write_all(format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut answer = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(10), idle.read_to_end(&mut answer)).await;
    assert!(
        closed.is_ok(),
        "an idle kept-alive connection was kept open"
    );
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");

    // The server keeps serving.
    let r = reqwest::get(format!("{}/healthz", app.base)).await.unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn shutdown_does_not_wait_for_ever_on_a_client_that_does_not_read() {
    use tokio::io::AsyncWriteExt;
    let database = warden_store::testing::TestDatabase::new().await.unwrap();
    let mut config = warden_server::ServerConfig::new(
        database.url(),
        std::sync::Arc::new(Catalogue::default_llmops()),
    );
    config.request_timeout = Duration::from_millis(500);
    let app = warden_server::build(config).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(app.serve(listener, async move {
        let _ = stopped.await;
    }));

    // Hundreds of pipelined requests for the OpenAPI document (about 100 KB each) through
    // a small receive buffer, and nothing read: the server's writes block.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut greedy = socket.connect(addr).await.unwrap();
    let request = format!("GET /openapi.json HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    for _ in 0..300 {
        greedy.write_all(request.as_bytes()).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    stop.send(()).unwrap();
    // The drain limit is the request timeout and 5 s more.
    let ended = tokio::time::timeout(Duration::from_secs(30), served).await;
    assert!(
        ended.is_ok(),
        "the server did not stop while a client kept its answers unread"
    );
    ended.unwrap().unwrap().unwrap();
    drop(greedy);
}

#[tokio::test]
async fn an_address_presenting_bad_keys_is_throttled_with_retry_after() {
    let app = app_with(|c| c.failed_auth_limit = 3).await;
    let http = reqwest::Client::new();
    let me = |key: &str| {
        http.get(format!("{}/v1/me", app.base))
            .bearer_auth(key.to_owned())
            .send()
    };
    // The Owner's key is authenticated (and kept in memory) before the guessing starts.
    assert_eq!(me(&app.owner_key).await.unwrap().status(), 200);
    for i in 0..3 {
        let r = me(&format!("wdn_guess{i}")).await.unwrap();
        assert_eq!(r.status(), 401, "guess {i}");
    }
    let before = app.revision().await;
    let (status, retry, body) = error_of(me("wdn_guess3").await.unwrap()).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"]["code"], "too_many_attempts");
    let wait: u64 = retry.expect("Retry-After").parse().unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("with a valid key"));
    // A key authenticated from memory still works from the throttled address; a key
    // that would need the database does not.
    assert_eq!(me(&app.owner_key).await.unwrap().status(), 200);
    let other = app
        .owner
        .post(
            &app.org_path("/api-keys"),
            &json!({"name": "ingest", "role_id": "Member"}),
        )
        .await
        .unwrap();
    let secret = other.body["secret"].as_str().unwrap().to_owned();
    assert_eq!(me(&secret).await.unwrap().status(), 429);
    // Refusals wrote nothing but the key made on purpose.
    assert_eq!(app.revision().await, before + 1);
}

#[tokio::test]
async fn requests_without_a_key_are_not_counted_as_failed_authentications() {
    let app = app_with(|c| c.failed_auth_limit = 2).await;
    let http = reqwest::Client::new();
    for _ in 0..5 {
        let r = http
            .get(format!("{}/v1/me", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
    }
    let r = http
        .get(format!("{}/v1/me", app.base))
        .bearer_auth(&app.owner_key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

/// The status of `GET /v1/me` with `key`, sent with `X-Forwarded-For: forwarded_for`.
async fn me_status(app: &TestApp, key: &str, forwarded_for: &str) -> u16 {
    reqwest::Client::new()
        .get(format!("{}/v1/me", app.base))
        .bearer_auth(key)
        .header("x-forwarded-for", forwarded_for)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_is_throttled_on_its_own() {
    // The test client connects from 127.0.0.1, which plays the proxy.
    let app = app_with(|c| {
        c.failed_auth_limit = 2;
        c.trusted_proxies =
            warden_server::client_addr::TrustedProxies::parse(&["127.0.0.1", "::1"]).unwrap();
    })
    .await;
    for i in 0..2 {
        assert_eq!(
            me_status(&app, &format!("wdn_guess{i}"), "203.0.113.5").await,
            401
        );
    }
    // The guesser is refused, even when it writes another address in front of its own.
    assert_eq!(me_status(&app, "wdn_guess2", "203.0.113.5").await, 429);
    assert_eq!(
        me_status(&app, "wdn_guess3", "198.51.100.1, 203.0.113.5").await,
        429
    );
    // Another client behind the same proxy is not.
    assert_eq!(me_status(&app, "wdn_guess4", "203.0.113.6").await, 401);
}

#[tokio::test]
async fn without_trusted_proxies_x_forwarded_for_is_ignored() {
    let app = app_with(|c| c.failed_auth_limit = 2).await;
    for i in 0..2 {
        let (key, from) = (format!("wdn_guess{i}"), format!("203.0.113.{i}"));
        assert_eq!(me_status(&app, &key, &from).await, 401);
    }
    // A new address in the header does not make a new client.
    assert_eq!(me_status(&app, "wdn_guess9", "203.0.113.99").await, 429);
}
