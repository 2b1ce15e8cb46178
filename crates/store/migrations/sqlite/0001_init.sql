-- Warden's schema. Ids are UUID strings, times UTC RFC 3339 strings, names compared through
-- their `name_key` (lowercased in Rust, so that the comparison is the same on every backend).
-- `scope_id` is the org id for org-scope rows and the project id for project-scope rows
-- (project ids are globally unique), so that one unique index covers both scopes.

CREATE TABLE orgs (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    name_key    TEXT NOT NULL UNIQUE,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    version     INTEGER NOT NULL DEFAULT 1
);

CREATE TABLE projects (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL REFERENCES orgs(id),
    name        TEXT NOT NULL,
    name_key    TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    restricted  INTEGER NOT NULL DEFAULT 0,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    version     INTEGER NOT NULL DEFAULT 1,
    UNIQUE (org_id, name_key)
);

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL,
    email_key     TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL DEFAULT '',
    status        TEXT NOT NULL DEFAULT 'active',
    password_hash TEXT,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    version       INTEGER NOT NULL DEFAULT 1
);

CREATE TABLE teams (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL REFERENCES orgs(id),
    key         TEXT NOT NULL,
    name        TEXT NOT NULL,
    name_key    TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    version     INTEGER NOT NULL DEFAULT 1,
    UNIQUE (org_id, key),
    UNIQUE (org_id, name_key)
);

CREATE TABLE team_users (
    team_id    TEXT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    PRIMARY KEY (team_id, user_id)
);

CREATE TABLE policies (
    id             TEXT PRIMARY KEY,
    org_id         TEXT NOT NULL REFERENCES orgs(id),
    project_id     TEXT REFERENCES projects(id) ON DELETE CASCADE,
    scope_id       TEXT NOT NULL,
    name           TEXT NOT NULL,
    name_key       TEXT NOT NULL,
    description    TEXT NOT NULL DEFAULT '',
    predefined_key TEXT,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    version        INTEGER NOT NULL DEFAULT 1,
    UNIQUE (scope_id, name_key)
);

CREATE TABLE policy_permissions (
    policy_id  TEXT NOT NULL REFERENCES policies(id) ON DELETE CASCADE,
    permission TEXT NOT NULL,
    PRIMARY KEY (policy_id, permission)
);

CREATE TABLE roles (
    id             TEXT PRIMARY KEY,
    org_id         TEXT NOT NULL REFERENCES orgs(id),
    project_id     TEXT REFERENCES projects(id) ON DELETE CASCADE,
    scope_id       TEXT NOT NULL,
    name           TEXT NOT NULL,
    name_key       TEXT NOT NULL,
    description    TEXT NOT NULL DEFAULT '',
    predefined_key TEXT,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    version        INTEGER NOT NULL DEFAULT 1,
    UNIQUE (scope_id, name_key)
);

CREATE TABLE role_permissions (
    role_id    TEXT NOT NULL REFERENCES roles(id) ON DELETE CASCADE,
    permission TEXT NOT NULL,
    PRIMARY KEY (role_id, permission)
);

CREATE TABLE role_policies (
    role_id   TEXT NOT NULL REFERENCES roles(id) ON DELETE CASCADE,
    policy_id TEXT NOT NULL REFERENCES policies(id),
    position  INTEGER NOT NULL,
    PRIMARY KEY (role_id, policy_id)
);
CREATE INDEX role_policies_policy ON role_policies(policy_id);

CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    org_id       TEXT NOT NULL REFERENCES orgs(id),
    project_id   TEXT REFERENCES projects(id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    secret_hash  TEXT NOT NULL UNIQUE,
    last_chars   TEXT NOT NULL,
    valid        INTEGER NOT NULL DEFAULT 1,
    created_by   TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    last_used_at TEXT,
    expires_at   TEXT,
    version      INTEGER NOT NULL DEFAULT 1
);

CREATE TABLE memberships (
    scope_id       TEXT NOT NULL,
    org_id         TEXT NOT NULL REFERENCES orgs(id),
    project_id     TEXT REFERENCES projects(id) ON DELETE CASCADE,
    principal_type TEXT NOT NULL,
    principal_id   TEXT NOT NULL,
    role_id        TEXT NOT NULL REFERENCES roles(id),
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    PRIMARY KEY (scope_id, principal_type, principal_id)
);
CREATE INDEX memberships_role ON memberships(role_id);
CREATE INDEX memberships_principal ON memberships(principal_type, principal_id);

-- The change log: at once the audit log, the feed that keeps every engine current and the
-- source of revision numbers. One row per write, appended in the write's transaction.
CREATE TABLE change_log (
    revision INTEGER PRIMARY KEY,
    at       TEXT NOT NULL,
    actor    TEXT NOT NULL,
    org_id   TEXT,
    project_id TEXT,
    action   TEXT NOT NULL,
    target   TEXT NOT NULL,
    before   TEXT,
    after    TEXT,
    effects  TEXT NOT NULL
);
CREATE INDEX change_log_org ON change_log(org_id, revision);
