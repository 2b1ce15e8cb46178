//! The validated newtypes at the API's boundary: principals, permission keys and ids
//! resolved against the default catalogue, typed ids, names, descriptions, team keys,
//! emails and list cursors. Each is given the whole input and each of its lines; none may
//! panic, and what one accepts must read back the same.

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use warden_model::names::{DESCRIPTION_MAX, NAME_MAX};
use warden_model::{
    ApiKeyId, Catalogue, Description, InvitationId, Name, NameError, OrgId, PermissionId, PolicyId,
    Principal, ProjectId, RoleId, ScopeKind, TeamId, UserId,
};
use warden_server::extract::{encode_cursor, PageQuery};
use warden_store::{derive_team_key, parse_email, parse_team_key, TEAM_KEY_MAX};

fn catalogue() -> &'static Catalogue {
    static CATALOGUE: OnceLock<Catalogue> = OnceLock::new();
    CATALOGUE.get_or_init(Catalogue::default_llmops)
}

macro_rules! round_trip_ids {
    ($s:expr, $($id:ty),+) => {$(
        if let Ok(id) = <$id>::parse($s) {
            assert_eq!(<$id>::parse(&id.to_string()), Ok(id));
            assert_eq!($s.parse::<$id>(), Ok(id));
        }
    )+};
}

fn principal(s: &str) {
    if let Ok(p) = s.parse::<Principal>() {
        let shown = p.to_string();
        assert_eq!(shown.parse::<Principal>(), Ok(p));
        assert_eq!(Principal::from_parts(p.kind(), p.uuid()), Some(p));
        assert_eq!(shown, format!("{}:{}", p.kind(), p.uuid()));
    }
}

fn permissions(s: &str, lines: &[&str]) {
    let cat = catalogue();
    for kind in [ScopeKind::Org, ScopeKind::Project] {
        let scope = cat.scope(kind);
        if let Some(p) = scope.find(s) {
            assert_eq!(p.scope, kind);
            assert!(scope.has(&p.key));
            assert_eq!(scope.find(&p.id.to_string()).map(|f| &f.key), Some(&p.key));
        }
        match scope.resolve(lines) {
            Ok(keys) => {
                assert!(keys.len() <= lines.len());
                for (i, k) in keys.iter().enumerate() {
                    assert!(scope.has(k), "{k}");
                    assert!(!keys[..i].contains(k), "{k} twice");
                }
            }
            Err(unknown) => {
                assert!(!unknown.is_empty() && unknown.len() <= lines.len());
                assert!(unknown.iter().all(|u| u.chars().count() <= 80));
            }
        }
    }
}

fn names(s: &str) {
    match Name::parse("name", s) {
        Ok(n) => {
            assert_eq!(n.as_str(), s.trim());
            let len = n.as_str().chars().count();
            assert!((1..=NAME_MAX).contains(&len));
            assert!(!n.as_str().chars().any(char::is_control));
            assert_eq!(Name::parse("name", n.as_str()).as_ref(), Ok(&n));
            assert_eq!(n.key(), n.as_str().to_lowercase());
        }
        Err(NameError::Empty { .. }) => assert!(s.trim().is_empty()),
        Err(_) => {}
    }
    if let Ok(d) = Description::parse(s) {
        assert_eq!(d.as_str(), s);
        assert!(s.chars().count() <= DESCRIPTION_MAX);
    }
}

fn team_keys(s: &str) {
    if let Ok(key) = parse_team_key(s) {
        assert_eq!(key, s.trim());
        assert!(!key.is_empty() && key.len() <= TEAM_KEY_MAX);
        assert!(uuid::Uuid::try_parse(&key).is_err());
        assert_eq!(parse_team_key(&key).as_deref(), Ok(key.as_str()));
    }
    let derived = derive_team_key(s);
    assert!(derived.len() <= TEAM_KEY_MAX, "{derived}");
    assert!(
        derived
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
        "{derived}"
    );
    assert!(
        !derived.starts_with('-') && !derived.ends_with('-'),
        "{derived}"
    );
}

fn emails(s: &str) {
    if let Ok(e) = parse_email(s) {
        assert_eq!(e, s.trim());
        assert!(e.len() <= 254 && e.contains('@'));
        assert_eq!(parse_email(&e).as_deref(), Ok(e.as_str()));
    }
}

fn cursors(s: &str) {
    let query = PageQuery {
        limit: None,
        cursor: Some(s.to_owned()),
    };
    if let Ok(page) = query.page() {
        if let Some(after) = page.after {
            let again = PageQuery {
                limit: None,
                cursor: Some(encode_cursor(after)),
            };
            assert_eq!(again.page().ok().and_then(|p| p.after), Some(after));
        }
    }
}

fn check(s: &str, lines: &[&str]) {
    principal(s);
    permissions(s, lines);
    round_trip_ids!(
        s,
        OrgId,
        ProjectId,
        UserId,
        TeamId,
        RoleId,
        PolicyId,
        ApiKeyId,
        InvitationId,
        PermissionId
    );
    names(s);
    team_keys(s);
    emails(s);
    cursors(s);
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let lines: Vec<&str> = text.lines().collect();
    check(&text, &lines);
    if lines.len() > 1 {
        for line in &lines {
            check(line, std::slice::from_ref(line));
        }
    }
});
