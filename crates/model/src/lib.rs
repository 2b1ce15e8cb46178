//! Warden's model: the vocabulary of the service and its rules, as types.
//!
//! Everything here is pure: no IO, no async, no clock. Ids, names and permission keys are
//! validated newtypes (parse, don't validate), the catalogue of permissions and predefined
//! roles is parsed from TOML here, and the change-log [`Effect`]s that keep every engine
//! current are defined here so that the store and the engine agree on them without knowing
//! each other.

pub mod catalogue;
pub mod effect;
pub mod ids;
pub mod names;
pub mod principal;
pub mod scope;

pub use catalogue::{
    Catalogue, CatalogueError, Permission, PredefinedPolicy, PredefinedRole, ScopeKind,
};
pub use effect::Effect;
pub use ids::{
    ApiKeyId, IdError, InvitationId, OrgId, PermissionId, PolicyId, ProjectId, RoleId, TeamId,
    UserId,
};
pub use names::{Description, Name, NameError};
pub use principal::{Principal, PrincipalError};
pub use scope::Scope;
