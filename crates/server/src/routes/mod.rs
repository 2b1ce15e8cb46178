//! The route table: every route of the API, with what the OpenAPI document says of it.
//!
//! The router and `/openapi.json` are both built from [`table`], so a route cannot exist
//! without being documented. Each resource has its own module with its handlers.

use axum::handler::Handler;
use axum::http::Method;
use axum::routing::{on, MethodFilter, MethodRouter};
use schemars::{JsonSchema, Schema, SchemaGenerator};

use crate::state::AppState;

pub mod api_keys;
pub mod audit;
pub mod authzen;
pub mod decisions;
pub mod invitations;
pub mod members;
pub mod meta;
pub mod permissions;
pub mod policies;
pub mod projects;
pub mod roles;
pub mod teams;
pub mod tokens;
pub mod views;

type SchemaFn = fn(&mut SchemaGenerator) -> Schema;

/// What the OpenAPI document says of one operation.
#[derive(Clone)]
pub struct RouteSpec {
    pub method: Method,
    pub path: &'static str,
    pub summary: &'static str,
    pub tag: &'static str,
    /// The permission the route needs, in the scope its path names.
    pub permission: Option<&'static str>,
    /// Whether the route needs an API key at all.
    pub authenticated: bool,
    pub request: Option<SchemaFn>,
    pub query: Option<SchemaFn>,
    pub response: Option<SchemaFn>,
    pub status: u16,
}

/// One row of the table: the spec and the handler that serves it.
pub struct Route {
    pub spec: RouteSpec,
    pub handler: MethodRouter<AppState>,
}

fn filter(method: &Method) -> MethodFilter {
    match *method {
        Method::POST => MethodFilter::POST,
        Method::PUT => MethodFilter::PUT,
        Method::PATCH => MethodFilter::PATCH,
        Method::DELETE => MethodFilter::DELETE,
        _ => MethodFilter::GET,
    }
}

/// Starts a row: the method of the spec is the method the handler is routed on.
pub fn op<H, T>(
    method: Method,
    path: &'static str,
    tag: &'static str,
    summary: &'static str,
    handler: H,
) -> Route
where
    H: Handler<T, AppState>,
    T: 'static,
{
    Route {
        handler: on(filter(&method), handler),
        spec: RouteSpec {
            method,
            path,
            summary,
            tag,
            permission: None,
            authenticated: true,
            request: None,
            query: None,
            response: None,
            status: 200,
        },
    }
}

impl Route {
    pub fn perm(mut self, permission: &'static str) -> Self {
        self.spec.permission = Some(permission);
        self
    }
    pub fn public(mut self) -> Self {
        self.spec.authenticated = false;
        self
    }
    pub fn body<T: JsonSchema>(mut self) -> Self {
        self.spec.request = Some(|g| g.subschema_for::<T>());
        self
    }
    pub fn query<T: JsonSchema>(mut self) -> Self {
        self.spec.query = Some(|g| g.root_schema_for::<T>());
        self
    }
    pub fn reply<T: JsonSchema>(mut self, status: u16) -> Self {
        self.spec.response = Some(|g| g.subschema_for::<T>());
        self.spec.status = status;
        self
    }
}

/// Every route of the API.
pub fn table() -> Vec<Route> {
    let mut t = Vec::new();
    t.extend(meta::routes());
    t.extend(projects::routes());
    t.extend(permissions::routes());
    t.extend(policies::routes());
    t.extend(roles::routes());
    t.extend(members::routes());
    t.extend(api_keys::routes());
    t.extend(audit::routes());
    t.extend(decisions::routes());
    t.extend(authzen::routes());
    t.extend(teams::routes());
    t.extend(tokens::routes());
    t.extend(invitations::routes());
    t
}
