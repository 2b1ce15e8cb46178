//! The OpenAPI 3.1 document, built from the route table and the types of the bodies, so that
//! it cannot drift from what the server serves.
//!
//! Request bodies and query strings are described as they are deserialized, answers as they
//! are serialized (a field skipped when empty is not required, a field with a default is
//! optional only in a request); a type described differently by the two gets two schemas.

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
        .map(|name| {
            let schema = match name {
                "principal" => json!({"type": "string", "description": "`user:<id>`, `team:<id>` or `api_key:<id>`"}),
                "team" => json!({"type": "string", "description": "a team id or key"}),
                "permission" => json!({"type": "string", "description": "a `resource:action` key or a permission id"}),
                _ => json!({"type": "string", "format": "uuid"}),
            };
            json!({"name": name, "in": "path", "required": true, "schema": schema})
        })
        .collect()
}

/// Builds the document for a set of routes.
pub fn document_for(specs: &[RouteSpec]) -> Value {
    // OpenAPI 3.1 schemas are JSON Schema 2020-12, with definitions under components.
    let mut settings = SchemaSettings::draft2020_12();
    settings.definitions_path = "#/components/schemas/".into();
    let mut generator = settings.clone().for_deserialize().into_generator();
    let mut answers = settings.for_serialize().into_generator();
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
                let schema: Value = f(&mut answers).into();
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
    let mut schemas: Map<String, Value> = generator.take_definitions(true);
    let renamed = merge_definitions(&mut schemas, answers.take_definitions(true));
    if !renamed.is_empty() {
        for item in paths.values_mut() {
            for operation in item
                .as_object_mut()
                .into_iter()
                .flat_map(|o| o.values_mut())
            {
                for (status, response) in
                    operation["responses"].as_object_mut().into_iter().flatten()
                {
                    if !status.ends_with("XX") {
                        rename_refs(response, &renamed);
                    }
                }
            }
        }
    }
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

const SCHEMAS: &str = "#/components/schemas/";

/// Adds the answers' definitions to the requests'. A name both define alike is kept once; a
/// type they describe differently (a field required in one and not the other) is added as
/// `<Name>Answer`, and the answers' references to it are renamed. Returns the renames.
fn merge_definitions(
    schemas: &mut Map<String, Value>,
    answers: Map<String, Value>,
) -> Map<String, Value> {
    let mut renamed = Map::new();
    for (name, schema) in &answers {
        if schemas.get(name).is_some_and(|s| s != schema) {
            let mut new = format!("{name}Answer");
            let mut n = 2;
            while schemas.contains_key(&new) || answers.contains_key(&new) {
                new = format!("{name}Answer{n}");
                n += 1;
            }
            renamed.insert(
                format!("{SCHEMAS}{name}"),
                Value::from(format!("{SCHEMAS}{new}")),
            );
        }
    }
    for (name, mut schema) in answers {
        rename_refs(&mut schema, &renamed);
        let target = match renamed
            .get(&format!("{SCHEMAS}{name}"))
            .and_then(Value::as_str)
        {
            Some(new) => new.trim_start_matches(SCHEMAS).to_owned(),
            None => name,
        };
        schemas.entry(target).or_insert(schema);
    }
    renamed
}

/// Points every `$ref` of `value` that `renamed` maps to its new target.
fn rename_refs(value: &mut Value, renamed: &Map<String, Value>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                match (key.as_str(), &*v) {
                    ("$ref", Value::String(target)) => {
                        if let Some(new) = renamed.get(target) {
                            *v = new.clone();
                        }
                    }
                    _ => rename_refs(v, renamed),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| rename_refs(v, renamed)),
        _ => {}
    }
}

fn operation_id(spec: &RouteSpec) -> String {
    let mut id = spec.method.as_str().to_lowercase();
    for seg in spec.path.split('/').filter(|s| !s.is_empty() && *s != "v1") {
        id.push('_');
        id.push_str(&seg.replace(['{', '}', '.', '-'], ""));
    }
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_type_described_differently_for_answers_gets_a_second_name() {
        let mut schemas = Map::new();
        schemas.insert("Same".into(), json!({"type": "string"}));
        schemas.insert("Item".into(), json!({"required": ["a"]}));
        let mut answers = Map::new();
        answers.insert("Same".into(), json!({"type": "string"}));
        answers.insert("Item".into(), json!({"required": ["a", "b"]}));
        answers.insert(
            "Page".into(),
            json!({"items": {"$ref": "#/components/schemas/Item"}}),
        );
        let renamed = merge_definitions(&mut schemas, answers);
        assert_eq!(
            renamed,
            json!({"#/components/schemas/Item": "#/components/schemas/ItemAnswer"})
                .as_object()
                .cloned()
                .unwrap_or_default()
        );
        assert_eq!(schemas["Same"], json!({"type": "string"}));
        assert_eq!(schemas["Item"], json!({"required": ["a"]}));
        assert_eq!(schemas["ItemAnswer"], json!({"required": ["a", "b"]}));
        assert_eq!(
            schemas["Page"],
            json!({"items": {"$ref": "#/components/schemas/ItemAnswer"}})
        );
        let mut response = json!({"schema": {"$ref": "#/components/schemas/Item"}});
        rename_refs(&mut response, &renamed);
        assert_eq!(
            response["schema"]["$ref"],
            "#/components/schemas/ItemAnswer"
        );
    }
}
