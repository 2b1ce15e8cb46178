//! Deployment settings, in layers: defaults, then a TOML file (`--config`), then `WARDEN_*`
//! environment variables, then flags. Unknown keys are an error, not ignored.

use serde::Deserialize;

/// The settings a TOML file may give. Every field is optional; what is missing falls back
/// to the next layer down.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Address to listen on, such as `127.0.0.1:8080`.
    pub listen: Option<String>,
    /// `sqlite://PATH`, or `postgres://USER@HOST:PORT/DB` for PostgreSQL.
    pub database_url: Option<String>,
    /// `llmops`, `arize`, `adaptive` or the path of a catalogue file.
    pub catalog: Option<String>,
    /// How long an invitation stays valid, in hours.
    pub invitation_lifetime_hours: Option<u64>,
    /// How often the change log is polled for other instances' writes, in milliseconds
    /// (on PostgreSQL each commit's notification also wakes the follower). Default 500.
    pub follow_interval_ms: Option<u64>,
    /// How long a decision with a `min_revision` this instance has not reached waits before
    /// it is answered 503, in milliseconds. Default 2000.
    pub consistency_wait_ms: Option<u64>,
    #[serde(default)]
    pub auth: AuthSettings,
}

/// Who gets what on arrival.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    /// Emails of users who become org Owners when they join (through an invitation).
    #[serde(default)]
    pub admins: Vec<String>,
    /// The org role (catalogue key or name) given to users who join through a project
    /// invitation and hold no org role; none when unset.
    pub default_org_role: Option<String>,
    /// The key of a team every user joins on arrival; none when unset.
    pub default_team: Option<String>,
}

impl AuthSettings {
    /// Whether `email` is one of the configured admins (case-insensitively).
    pub fn is_admin(&self, email: &str) -> bool {
        self.admins
            .iter()
            .any(|a| a.trim().eq_ignore_ascii_case(email.trim()))
    }
}

impl FileConfig {
    /// Parses a config file; errors name the line and the key.
    pub fn parse(source: &str, text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1)
                .unwrap_or(0);
            format!("{source}:{line}: {}", e.message())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_file_parses() {
        let c = FileConfig::parse(
            "w.toml",
            "listen = \"0.0.0.0:9000\"\ndatabase_url = \"sqlite://x.db\"\ncatalog = \"arize\"\ninvitation_lifetime_hours = 24\nfollow_interval_ms = 250\nconsistency_wait_ms = 5000\n[auth]\nadmins = [\"Ada@Acme.test\"]\ndefault_org_role = \"member\"\ndefault_team = \"everyone\"\n",
        )
        .unwrap();
        assert_eq!(c.listen.as_deref(), Some("0.0.0.0:9000"));
        assert_eq!(c.invitation_lifetime_hours, Some(24));
        assert_eq!(c.follow_interval_ms, Some(250));
        assert_eq!(c.consistency_wait_ms, Some(5000));
        assert!(c.auth.is_admin("ada@acme.test"));
        assert!(!c.auth.is_admin("bob@acme.test"));
        assert_eq!(c.auth.default_team.as_deref(), Some("everyone"));
    }

    #[test]
    fn unknown_keys_are_errors_naming_the_line() {
        let err = FileConfig::parse("w.toml", "listen = \"x\"\nlisten_port = 3\n").unwrap_err();
        assert!(err.starts_with("w.toml:2:"), "{err}");
        assert!(err.contains("listen_port"), "{err}");
        let err = FileConfig::parse("w.toml", "[auth]\nadmin = []\n").unwrap_err();
        assert!(err.contains("admin"), "{err}");
    }

    #[test]
    fn an_empty_file_is_all_defaults() {
        assert_eq!(
            FileConfig::parse("w.toml", "").unwrap(),
            FileConfig::default()
        );
    }
}
