//! Any text as a catalogue file: a bad file is an error naming a line, never a panic; a
//! good one satisfies what the server relies on.

#![no_main]

use libfuzzer_sys::fuzz_target;
use warden_model::{Catalogue, ScopeKind};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Catalogue::parse("fuzz.toml", text) {
        Err(e) => {
            // The line is 1-based within the file, or 0 when the problem has no one place.
            assert!(e.line <= text.lines().count() + 1, "{e}");
            assert!(!e.reason.is_empty());
        }
        Ok(cat) => {
            for kind in [ScopeKind::Org, ScopeKind::Project] {
                let scope = cat.scope(kind);
                assert!(scope.role(&scope.owner_role).is_some());
                assert!(scope.role(&scope.demote_owner_to).is_some());
                for p in &scope.permissions {
                    assert_eq!(scope.find(&p.key).map(|f| &f.key), Some(&p.key));
                    assert_eq!(scope.find(&p.id.to_string()).map(|f| &f.key), Some(&p.key));
                }
                for role in &scope.roles {
                    for key in scope.role_grants(role) {
                        assert!(scope.has(&key), "{key}");
                    }
                }
            }
            // Org scope includes every project permission.
            for p in &cat.project.permissions {
                assert!(cat.org.has(&p.key), "{}", p.key);
            }
            let _ = cat.all_keys();
        }
    }
});
