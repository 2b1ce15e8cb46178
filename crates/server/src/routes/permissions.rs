//! The catalogue's permissions, read-only.

use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde::Deserialize;

use super::views::{permissions_of, List, PermissionView};
use super::{op, Route};
use crate::auth::{Caller, ScopeParam};
use crate::error::ApiError;
use crate::extract::{encode_cursor, Query};
use crate::respond;
use crate::state::AppState;

pub fn routes() -> Vec<Route> {
    vec![
        op(
            Method::GET,
            "/v1/orgs/{org}/permissions",
            "permissions",
            "List the permissions of the organization scope (every project permission included)",
            list,
        )
        .query::<PermissionQuery>()
        .reply::<List<PermissionView>>(200),
        op(
            Method::GET,
            "/v1/projects/{project}/permissions",
            "permissions",
            "List the permissions of the project scope",
            list,
        )
        .query::<PermissionQuery>()
        .reply::<List<PermissionView>>(200),
    ]
}

/// `?limit=&cursor=&resource=` of the permission list.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PermissionQuery {
    /// 1 to 1000, default 1000: the catalogue is small and read whole.
    #[schemars(range(min = 1, max = 1000))]
    pub limit: Option<u32>,
    pub cursor: Option<String>,
    /// Only the permissions of this resource.
    pub resource: Option<String>,
}

/// Any member of the scope may read the catalogue; it is the same for every org.
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    param: ScopeParam,
    Query(q): Query<PermissionQuery>,
) -> Result<Response, ApiError> {
    let scope = caller.resolve(&state, param)?;
    let limit = q.limit.unwrap_or(1000);
    if limit == 0 || limit > 1000 {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!("`limit` must be between 1 and 1000; it was {limit}"),
        )
        .with_field("limit"));
    }
    let all: Vec<PermissionView> = permissions_of(state.catalogue(), scope.kind())
        .into_iter()
        .filter(|p| q.resource.as_deref().is_none_or(|r| p.resource == r))
        .collect();
    // Permission ids are UUIDv5, not ordered; the cursor is the id of the last permission
    // of the previous page, found by position.
    let start = match q.cursor.as_deref() {
        None | Some("") => 0,
        Some(c) => {
            let pos = all.iter().position(|p| encode_cursor(p.id.0) == c).ok_or_else(|| {
                ApiError::bad_request("invalid_cursor", "`cursor` is not a cursor this API returned; pass the `next_cursor` of the previous page unchanged")
            })?;
            pos + 1
        }
    };
    let end = (start + limit as usize).min(all.len());
    let has_more = end < all.len();
    let next_cursor = if has_more {
        all.get(end.saturating_sub(1))
            .map(|p| encode_cursor(p.id.0))
    } else {
        None
    };
    let items: Vec<PermissionView> = all.into_iter().skip(start).take(end - start).collect();
    Ok(respond::json(
        StatusCode::OK,
        &List {
            items,
            next_cursor,
            has_more,
        },
        None,
        None,
    ))
}
