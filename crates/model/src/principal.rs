//! Principals: who holds roles and who asks.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{ApiKeyId, TeamId, UserId};

/// A user, a team (through its members) or an API key, written `user:<id>`, `team:<id>`
/// or `api_key:<id>`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub enum Principal {
    User(UserId),
    Team(TeamId),
    ApiKey(ApiKeyId),
}

/// A principal that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a principal: write `user:<id>`, `team:<id>` or `api_key:<id>`, where <id> is a UUID")]
pub struct PrincipalError(pub String);

impl Principal {
    /// `user`, `team` or `api_key`.
    pub fn kind(&self) -> &'static str {
        match self {
            Principal::User(_) => "user",
            Principal::Team(_) => "team",
            Principal::ApiKey(_) => "api_key",
        }
    }

    /// The id without its kind.
    pub fn uuid(&self) -> uuid::Uuid {
        match self {
            Principal::User(id) => id.0,
            Principal::Team(id) => id.0,
            Principal::ApiKey(id) => id.0,
        }
    }

    /// Builds a principal from its two stored parts.
    pub fn from_parts(kind: &str, id: uuid::Uuid) -> Option<Self> {
        match kind {
            "user" => Some(Principal::User(UserId(id))),
            "team" => Some(Principal::Team(TeamId(id))),
            "api_key" => Some(Principal::ApiKey(ApiKeyId(id))),
            _ => None,
        }
    }
}

impl FromStr for Principal {
    type Err = PrincipalError;
    fn from_str(s: &str) -> Result<Self, PrincipalError> {
        let err = || PrincipalError(s.chars().take(80).collect());
        let (kind, id) = s.trim().split_once(':').ok_or_else(err)?;
        let id = uuid::Uuid::try_parse(id).map_err(|_| err())?;
        Principal::from_parts(kind, id).ok_or_else(err)
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind(), self.uuid())
    }
}

impl Serialize for Principal {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Principal {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl schemars::JsonSchema for Principal {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Principal".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "`user:<id>`, `team:<id>` or `api_key:<id>`",
            "pattern": "^(user|team|api_key):[0-9a-fA-F-]{36}$"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_garbage() {
        let id = UserId::new();
        let p: Principal = format!("user:{id}").parse().unwrap();
        assert_eq!(p, Principal::User(id));
        assert_eq!(p.to_string(), format!("user:{id}"));
        for bad in [
            "",
            "user",
            "user:",
            "robot:0190f2a4-8c1e-7a3b-9d2f-4b6c8e0a1f3d",
            "team:xyz",
        ] {
            assert!(bad.parse::<Principal>().is_err(), "{bad}");
        }
    }
}
