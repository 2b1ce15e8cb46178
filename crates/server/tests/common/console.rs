//! The console driven over HTTP as a browser drives it: a client that keeps cookies and
//! follows no redirects, pages read for their hidden fields, and orgs whose Owner has a
//! password.

use reqwest::header::{COOKIE, LOCATION, RETRY_AFTER, SET_COOKIE};
use reqwest::StatusCode;
use serde_json::json;
use warden_model::Name;

use super::TestApp;

pub const PASSWORD: &str = "correct horse battery";

/// A browser: no redirects followed, cookies kept by hand.
pub struct Browser {
    pub http: reqwest::Client,
    pub base: String,
    pub cookies: Vec<(String, String)>,
}

/// A page as received.
pub struct Got {
    pub status: StatusCode,
    pub location: Option<String>,
    pub set_cookies: Vec<String>,
    pub retry_after: Option<String>,
    /// Every header of the answer.
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Browser {
    pub fn new(app: &TestApp) -> Self {
        Browser {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: app.base.clone(),
            cookies: Vec::new(),
        }
    }

    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.cookies
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub async fn send(&mut self, req: reqwest::RequestBuilder) -> Got {
        let header: Vec<String> = self
            .cookies
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect();
        let req = if header.is_empty() {
            req
        } else {
            req.header(COOKIE, header.join("; "))
        };
        let r = req.send().await.unwrap();
        let set_cookies: Vec<String> = r
            .headers()
            .get_all(SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        for c in &set_cookies {
            let (pair, attrs) = c.split_once(';').unwrap_or((c, ""));
            let (name, value) = pair.split_once('=').unwrap();
            self.cookies.retain(|(n, _)| n != name);
            if !attrs.contains("Max-Age=0") {
                self.cookies.push((name.to_owned(), value.to_owned()));
            }
        }
        Got {
            status: r.status(),
            location: r
                .headers()
                .get(LOCATION)
                .map(|v| v.to_str().unwrap().to_owned()),
            retry_after: r
                .headers()
                .get(RETRY_AFTER)
                .map(|v| v.to_str().unwrap().to_owned()),
            set_cookies,
            headers: r.headers().clone(),
            body: r.text().await.unwrap(),
        }
    }

    pub async fn get(&mut self, path: &str) -> Got {
        let req = self.http.get(format!("{}{path}", self.base));
        self.send(req).await
    }

    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Got {
        let req = self.http.post(format!("{}{path}", self.base)).form(form);
        self.send(req).await
    }

    /// Opens the sign-in page and posts it.
    pub async fn sign_in(&mut self, email: &str, password: &str) -> Got {
        let page = self.get("/console/sign-in").await;
        assert_eq!(page.status, 200);
        let nonce = hidden(&page.body, "csrf");
        self.post(
            "/console/sign-in",
            &[("csrf", &nonce), ("email", email), ("password", password)],
        )
        .await
    }
}

/// The value of the first hidden input `name` of a page.
pub fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no `{name}` field in:\n{html}"))
        + marker.len();
    html[start..start + html[start..].find('"').unwrap()].to_owned()
}

/// An org whose Owner has a password, as `warden bootstrap` makes it.
pub async fn org_with_owner(app: &TestApp, org: &str, email: &str) -> String {
    org_and_key(app, org, email).await.0
}

/// [`org_with_owner`], with the Owner API key `bootstrap` prints.
pub async fn org_and_key(app: &TestApp, org: &str, email: &str) -> (String, String) {
    let boot = app
        .store
        .bootstrap_with_password(&Name::parse("org", org).unwrap(), email, Some(PASSWORD))
        .await
        .unwrap();
    app.synced().await;
    (boot.org_id.to_string(), boot.secret)
}

/// Invites `email` to Acme with `role` and accepts with [`PASSWORD`].
pub async fn member(app: &TestApp, email: &str, role: &str) {
    let r = app
        .owner
        .post(
            &app.org_path("/invitations"),
            &json!({"emails": [email], "role_id": role}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{:?}", r.body);
    let token = r.body["invitations"][0]["token"].as_str().unwrap();
    let r = app
        .anonymous()
        .post(
            "/v1/invitations/accept",
            &json!({"token": token, "name": "Bea", "password": PASSWORD}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{:?}", r.body);
}

pub async fn project_names(app: &TestApp, org: &str) -> Vec<String> {
    let r = app
        .store
        .list_projects(
            warden_model::OrgId::parse(org).unwrap(),
            warden_store::Page::default(),
        )
        .await
        .unwrap();
    r.items.into_iter().map(|p| p.name).collect()
}

/// The id of the user `email` in Acme, read through the members API.
pub async fn user_id(app: &TestApp, email: &str) -> String {
    let members = app
        .owner
        .list_all(&app.org_path("/members?principal_type=user"))
        .await
        .unwrap();
    let m = members
        .iter()
        .find(|m| m["email"] == email)
        .unwrap_or_else(|| panic!("{email} is no member of Acme: {members:?}"));
    m["principal_id"].as_str().unwrap().to_owned()
}

/// A user of Acme holding its Owner role, with [`PASSWORD`] (invited as Admin, then made
/// Owner by Acme's Owner key); returns its id.
pub async fn acme_owner(app: &TestApp, email: &str) -> String {
    member(app, email, "Admin").await;
    let id = user_id(app, email).await;
    let r = app
        .owner
        .put(
            &app.org_path(&format!("/members/user:{id}")),
            &json!({"role_id": "Owner"}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{:?}", r.body);
    id
}

/// A browser signed in as `email` (whose password is [`PASSWORD`]).
pub async fn signed_in(app: &TestApp, email: &str) -> Browser {
    let mut b = Browser::new(app);
    let r = b.sign_in(email, PASSWORD).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    b
}

/// The value of the option labelled `label` of the select whose id is `select_id`.
pub fn option_value(html: &str, select_id: &str, label: &str) -> String {
    let start = html
        .find(&format!("id=\"{select_id}\""))
        .unwrap_or_else(|| panic!("no select `{select_id}` in:\n{html}"));
    let end = start + html[start..].find("</select>").unwrap();
    let select = &html[start..end];
    let at = select
        .find(&format!(">{label}</option>"))
        .unwrap_or_else(|| panic!("no option `{label}` in select `{select_id}`:\n{select}"));
    let from = select[..at].rfind("value=\"").unwrap() + "value=\"".len();
    select[from..from + select[from..].find('"').unwrap()].to_owned()
}

/// The tokens of the invitation links a page shows, in order.
pub fn accept_tokens(html: &str) -> Vec<String> {
    let marker = "/console/invitations/accept?token=";
    html.match_indices(marker)
        .map(|(at, _)| {
            let rest = &html[at + marker.len()..];
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
                .unwrap_or(rest.len());
            rest[..end].to_owned()
        })
        .collect()
}
