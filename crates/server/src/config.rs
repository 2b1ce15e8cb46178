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
    /// Addresses and networks of the proxies in front of Warden whose `X-Forwarded-For`
    /// names the client, such as `["10.0.0.0/8"]`; none by default, and the header is
    /// then ignored.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    #[serde(default)]
    pub auth: AuthSettings,
    #[serde(default)]
    pub limits: Limits,
}

/// What one request may take; each is optional, with the default in its comment.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// The largest request body, in bytes (413 past it). Default 1 MiB.
    pub body_bytes: Option<usize>,
    /// The largest request line and headers together, in bytes (431). Default 16 KiB.
    pub header_bytes: Option<usize>,
    /// The longest a request may take, body reading included, in milliseconds (408).
    /// Default 30000.
    pub request_timeout_ms: Option<u64>,
    /// The longest a connection may take to send a request's head, idle time between
    /// requests included, in milliseconds; the connection is closed past it. Default 75000
    /// (keep a proxy's idle timeout for its upstream connections below it).
    pub header_read_timeout_ms: Option<u64>,
    /// Requests handled at once by one instance (503 `overloaded` past it). Default 1024.
    pub concurrent_requests: Option<usize>,
    /// Failed API key authentications per client address per minute before its requests
    /// are refused (429). Default 30.
    pub failed_auth_per_minute: Option<u32>,
}

impl Limits {
    /// Applies the limits given to `config`; a zero is refused, naming the key.
    pub fn apply(&self, config: &mut crate::ServerConfig) -> Result<(), String> {
        fn positive<T: PartialEq + Default + Copy>(
            key: &str,
            v: Option<T>,
        ) -> Result<Option<T>, String> {
            match v {
                Some(v) if v == T::default() => Err(format!(
                    "`limits.{key}` in the config file must be at least 1"
                )),
                v => Ok(v),
            }
        }
        if let Some(v) = positive("body_bytes", self.body_bytes)? {
            config.body_limit = v;
        }
        if let Some(v) = positive("header_bytes", self.header_bytes)? {
            config.max_header_bytes = v;
        }
        if let Some(v) = positive("request_timeout_ms", self.request_timeout_ms)? {
            config.request_timeout = std::time::Duration::from_millis(v);
        }
        if let Some(v) = positive("header_read_timeout_ms", self.header_read_timeout_ms)? {
            config.header_read_timeout = std::time::Duration::from_millis(v);
        }
        if let Some(v) = positive("concurrent_requests", self.concurrent_requests)? {
            config.max_concurrent_requests = v;
        }
        if let Some(v) = positive("failed_auth_per_minute", self.failed_auth_per_minute)? {
            config.failed_auth_limit = v;
        }
        Ok(())
    }
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
            "listen = \"0.0.0.0:9000\"\ntrusted_proxies = [\"10.0.0.0/8\", \"::1\"]\ndatabase_url = \"sqlite://x.db\"\ncatalog = \"arize\"\ninvitation_lifetime_hours = 24\nfollow_interval_ms = 250\nconsistency_wait_ms = 5000\n[auth]\nadmins = [\"Ada@Acme.test\"]\ndefault_org_role = \"member\"\ndefault_team = \"everyone\"\n",
        )
        .unwrap();
        assert_eq!(c.listen.as_deref(), Some("0.0.0.0:9000"));
        assert_eq!(c.invitation_lifetime_hours, Some(24));
        assert_eq!(c.trusted_proxies, ["10.0.0.0/8", "::1"]);
        assert!(crate::client_addr::TrustedProxies::parse(&c.trusted_proxies).is_ok());
        assert_eq!(c.follow_interval_ms, Some(250));
        assert_eq!(c.consistency_wait_ms, Some(5000));
        assert!(c.auth.is_admin("ada@acme.test"));
        assert!(!c.auth.is_admin("bob@acme.test"));
        assert_eq!(c.auth.default_team.as_deref(), Some("everyone"));
    }

    #[test]
    fn limits_apply_and_zero_is_refused() {
        let c = FileConfig::parse(
            "w.toml",
            "[limits]\nbody_bytes = 2048\nheader_bytes = 4096\nrequest_timeout_ms = 1500\nheader_read_timeout_ms = 2500\nconcurrent_requests = 8\nfailed_auth_per_minute = 3\n",
        )
        .unwrap();
        let cat = std::sync::Arc::new(warden_model::Catalogue::default_llmops());
        let mut config = crate::ServerConfig::new("sqlite://x.db", cat);
        c.limits.apply(&mut config).unwrap();
        assert_eq!(config.body_limit, 2048);
        assert_eq!(config.max_header_bytes, 4096);
        assert_eq!(
            config.request_timeout,
            std::time::Duration::from_millis(1500)
        );
        assert_eq!(
            config.header_read_timeout,
            std::time::Duration::from_millis(2500)
        );
        assert_eq!(config.max_concurrent_requests, 8);
        assert_eq!(config.failed_auth_limit, 3);
        let zero = FileConfig::parse("w.toml", "[limits]\nconcurrent_requests = 0\n").unwrap();
        let err = zero.limits.apply(&mut config).unwrap_err();
        assert!(err.contains("limits.concurrent_requests"), "{err}");
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
