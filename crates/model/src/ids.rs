//! Typed ids. Every id is a UUID; all but permission ids are UUIDv7, so that they sort by
//! creation time (which the cursor pagination relies on).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// An id that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not a valid {kind} id: ids are UUIDs such as `0190f2a4-8c1e-7a3b-9d2f-4b6c8e0a1f3d`")]
pub struct IdError {
    /// What kind of id was expected (`role`, `policy`, ...).
    pub kind: &'static str,
    /// The text that was given, cut to a readable length.
    pub value: String,
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// What this id names, as used in messages.
            pub const KIND: &'static str = $kind;

            /// A new time-ordered id (UUIDv7).
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            /// Parses an id, with an error that names the kind of id expected.
            pub fn parse(s: &str) -> Result<Self, IdError> {
                Uuid::try_parse(s.trim()).map(Self).map_err(|_| IdError {
                    kind: $kind,
                    value: s.chars().take(80).collect(),
                })
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::parse(s)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl schemars::JsonSchema for $name {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                "Uuid".into()
            }
            fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
                <Uuid as schemars::JsonSchema>::json_schema(generator)
            }
        }
    };
}

id_type!(/// An organization (tenant).
    OrgId, "organization");
id_type!(/// A project inside an organization.
    ProjectId, "project");
id_type!(/// A user (a person).
    UserId, "user");
id_type!(/// A team of users inside an organization.
    TeamId, "team");
id_type!(/// A role (predefined or custom).
    RoleId, "role");
id_type!(/// A policy (predefined or custom).
    PolicyId, "policy");
id_type!(/// An API key.
    ApiKeyId, "API key");
id_type!(/// An invitation to join an organization or a project.
    InvitationId, "invitation");
id_type!(/// A permission. Derived from scope and key, see [`crate::Catalogue`].
    PermissionId, "permission");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_names_the_kind_and_value() {
        let err = RoleId::parse("nope").unwrap_err();
        assert_eq!(err.kind, "role");
        assert!(err.to_string().contains("`nope` is not a valid role id"));
    }

    #[test]
    fn new_ids_sort_by_creation() {
        let a = PolicyId::new();
        let b = PolicyId::new();
        assert!(a < b);
        assert_eq!(PolicyId::parse(&a.to_string()).unwrap(), a);
    }
}
