//! The OpenAPI 3.1 document, built from the route table and the types of the bodies, so that
//! it cannot drift from what the server serves.

use schemars::generate::SchemaSettings;
use serde_json::{json, Map, Value};

use crate::routes::{table, RouteSpec};

/// The document served at `/openapi.json`.
pub fn document() -> Value {
    document_for(&table().into_iter().map(|r| r.spec).collect::<Vec<_>>())
}

fn path_params(path: &str) -> Vec<Value> {
    path.split('/')
        .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(|name| match name {
            // Teams are named by id or by key (a readable slug that is never a UUID).
            "team" => json!({
                "name": name,
                "in": "path",
                "required": true,
                "description": "The team's id or its key",
                "schema": {"type": "string"},
            }),
            _ => json!({
                "name": name,
                "in": "path",
                "required": true,
                "schema": {"type": "string", "format": "uuid"},
            }),
        })
        .collect()
}

/// Builds the document for a set of routes.
pub fn document_for(specs: &[RouteSpec]) -> Value {
    // OpenAPI 3.1 schemas are JSON Schema 2020-12, with definitions under components.
    let mut settings = SchemaSettings::draft2020_12();
    settings.definitions_path = "#/components/schemas/".into();
    let mut generator = settings.into_generator();
    let mut paths: Map<String, Value> = Map::new();
    for spec in specs {
        let mut params = path_params(spec.path);
        if let Some(query) = spec.query {
            let schema = query(&mut generator);
            if let Some(props) = schema.get("properties").and_then(Value::as_object) {
                for (name, s) in props {
                    let mut s = s.clone();
                    let description = s.as_object_mut().and_then(|o| o.remove("description"));
                    let mut p =
                        json!({"name": name, "in": "query", "required": false, "schema": s});
                    if let (Some(d), Some(o)) = (description, p.as_object_mut()) {
                        o.insert("description".into(), d);
                    }
                    params.push(p);
                }
            }
        }
        let mut operation = json!({
            "operationId": operation_id(spec),
            "summary": spec.summary,
            "tags": [spec.tag],
            "parameters": params,
            "responses": {
                "4XX": {"$ref": "#/components/responses/Error"},
                "5XX": {"$ref": "#/components/responses/Error"},
            },
        });
        let status = spec.status.to_string();
        let success = match spec.response {
            Some(f) => {
                let schema: Value = f(&mut generator).into();
                json!({"description": "success", "content": {"application/json": {"schema": schema}}})
            }
            None => {
                json!({"description": "success", "content": {"application/json": {"schema": {"type": "object"}}}})
            }
        };
        if let Some(o) = operation.as_object_mut() {
            if let Some(responses) = o.get_mut("responses").and_then(Value::as_object_mut) {
                responses.insert(status, success);
            }
            if let Some(f) = spec.request {
                let schema: Value = f(&mut generator).into();
                o.insert(
                    "requestBody".into(),
                    json!({"required": true, "content": {"application/json": {"schema": schema}}}),
                );
            }
            o.insert(
                "security".into(),
                if spec.authenticated {
                    json!([{"apiKey": []}])
                } else {
                    json!([])
                },
            );
            if let Some(p) = spec.permission {
                o.insert("x-warden-permission".into(), json!(p));
                o.insert(
                    "description".into(),
                    json!(format!(
                        "Needs the permission `{p}` in the scope the path names."
                    )),
                );
            }
        }
        let entry = paths
            .entry(spec.path.to_owned())
            .or_insert_with(|| json!({}));
        if let Some(e) = entry.as_object_mut() {
            e.insert(spec.method.as_str().to_lowercase(), operation);
        }
    }
    let schemas: Map<String, Value> = generator.take_definitions(true);
    let mut schemas = schemas;
    schemas.insert(
        "Error".into(),
        json!({
            "type": "object",
            "required": ["error"],
            "properties": {"error": {
                "type": "object",
                "required": ["code", "message", "details"],
                "properties": {
                    "code": {"type": "string", "description": "A stable, machine-readable code"},
                    "message": {"type": "string", "description": "What was wrong and what to change"},
                    "details": {"type": "object"},
                },
            }},
        }),
    );
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Warden",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Role-based access control for multi-tenant platforms: permissions, policies, roles and memberships at organization and project scope, and the decisions they give.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "responses": {"Error": {
                "description": "An error: `{\"error\": {\"code\", \"message\", \"details\"}}`",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            }},
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer", "description": "An API key: `Authorization: Bearer wdn_...`"}},
        },
    })
}

fn operation_id(spec: &RouteSpec) -> String {
    let mut id = spec.method.as_str().to_lowercase();
    for seg in spec.path.split('/').filter(|s| !s.is_empty() && *s != "v1") {
        id.push('_');
        id.push_str(&seg.replace(['{', '}', '.', '-'], ""));
    }
    id
}
