-- Warden's schema on PostgreSQL: the same tables, columns and constraints as on SQLite, so
-- that the store runs one SQL text on both. Text compares and sorts byte-wise (`COLLATE "C"`,
-- as SQLite's default), so that lists and cursors order the same on both; integers are
-- BIGINT (flags are 0/1, as on SQLite).
-- Ids are UUID strings, times UTC RFC 3339 strings, names compared through
-- their `name_key` (lowercased in Rust, so that the comparison is the same on every backend).
-- `scope_id` is the org id for org-scope rows and the project id for project-scope rows
-- (project ids are globally unique), so that one unique index covers both scopes.

CREATE TABLE orgs (
    id          TEXT COLLATE "C" PRIMARY KEY,
    name        TEXT COLLATE "C" NOT NULL,
    name_key    TEXT COLLATE "C" NOT NULL UNIQUE,
    created_at  TEXT COLLATE "C" NOT NULL,
    updated_at  TEXT COLLATE "C" NOT NULL,
    version     BIGINT NOT NULL DEFAULT 1
);

CREATE TABLE projects (
    id          TEXT COLLATE "C" PRIMARY KEY,
    org_id      TEXT COLLATE "C" NOT NULL REFERENCES orgs(id),
    name        TEXT COLLATE "C" NOT NULL,
    name_key    TEXT COLLATE "C" NOT NULL,
    description TEXT COLLATE "C" NOT NULL DEFAULT '',
    restricted  BIGINT NOT NULL DEFAULT 0,
    created_at  TEXT COLLATE "C" NOT NULL,
    updated_at  TEXT COLLATE "C" NOT NULL,
    version     BIGINT NOT NULL DEFAULT 1,
    UNIQUE (org_id, name_key)
);

CREATE TABLE users (
    id            TEXT COLLATE "C" PRIMARY KEY,
    email         TEXT COLLATE "C" NOT NULL,
    email_key     TEXT COLLATE "C" NOT NULL UNIQUE,
    name          TEXT COLLATE "C" NOT NULL DEFAULT '',
    status        TEXT COLLATE "C" NOT NULL DEFAULT 'active',
    password_hash TEXT COLLATE "C",
    created_at    TEXT COLLATE "C" NOT NULL,
    updated_at    TEXT COLLATE "C" NOT NULL,
    version       BIGINT NOT NULL DEFAULT 1
);

CREATE TABLE teams (
    id          TEXT COLLATE "C" PRIMARY KEY,
    org_id      TEXT COLLATE "C" NOT NULL REFERENCES orgs(id),
    key         TEXT COLLATE "C" NOT NULL,
    name        TEXT COLLATE "C" NOT NULL,
    name_key    TEXT COLLATE "C" NOT NULL,
    description TEXT COLLATE "C" NOT NULL DEFAULT '',
    created_at  TEXT COLLATE "C" NOT NULL,
    updated_at  TEXT COLLATE "C" NOT NULL,
    version     BIGINT NOT NULL DEFAULT 1,
    UNIQUE (org_id, key),
    UNIQUE (org_id, name_key)
);

CREATE TABLE team_users (
    team_id    TEXT COLLATE "C" NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
    user_id    TEXT COLLATE "C" NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (team_id, user_id)
);

CREATE TABLE policies (
    id             TEXT COLLATE "C" PRIMARY KEY,
    org_id         TEXT COLLATE "C" NOT NULL REFERENCES orgs(id),
    project_id     TEXT COLLATE "C" REFERENCES projects(id) ON DELETE CASCADE,
    scope_id       TEXT COLLATE "C" NOT NULL,
    name           TEXT COLLATE "C" NOT NULL,
    name_key       TEXT COLLATE "C" NOT NULL,
    description    TEXT COLLATE "C" NOT NULL DEFAULT '',
    predefined_key TEXT COLLATE "C",
    created_at     TEXT COLLATE "C" NOT NULL,
    updated_at     TEXT COLLATE "C" NOT NULL,
    version        BIGINT NOT NULL DEFAULT 1,
    UNIQUE (scope_id, name_key)
);

CREATE TABLE policy_permissions (
    policy_id  TEXT COLLATE "C" NOT NULL REFERENCES policies(id) ON DELETE CASCADE,
    permission TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (policy_id, permission)
);

CREATE TABLE roles (
    id             TEXT COLLATE "C" PRIMARY KEY,
    org_id         TEXT COLLATE "C" NOT NULL REFERENCES orgs(id),
    project_id     TEXT COLLATE "C" REFERENCES projects(id) ON DELETE CASCADE,
    scope_id       TEXT COLLATE "C" NOT NULL,
    name           TEXT COLLATE "C" NOT NULL,
    name_key       TEXT COLLATE "C" NOT NULL,
    description    TEXT COLLATE "C" NOT NULL DEFAULT '',
    predefined_key TEXT COLLATE "C",
    created_at     TEXT COLLATE "C" NOT NULL,
    updated_at     TEXT COLLATE "C" NOT NULL,
    version        BIGINT NOT NULL DEFAULT 1,
    UNIQUE (scope_id, name_key)
);

CREATE TABLE role_permissions (
    role_id    TEXT COLLATE "C" NOT NULL REFERENCES roles(id) ON DELETE CASCADE,
    permission TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (role_id, permission)
);

CREATE TABLE role_policies (
    role_id   TEXT COLLATE "C" NOT NULL REFERENCES roles(id) ON DELETE CASCADE,
    policy_id TEXT COLLATE "C" NOT NULL REFERENCES policies(id),
    position  BIGINT NOT NULL,
    PRIMARY KEY (role_id, policy_id)
);
CREATE INDEX role_policies_policy ON role_policies(policy_id);

CREATE TABLE api_keys (
    id           TEXT COLLATE "C" PRIMARY KEY,
    org_id       TEXT COLLATE "C" NOT NULL REFERENCES orgs(id),
    project_id   TEXT COLLATE "C" REFERENCES projects(id) ON DELETE CASCADE,
    name         TEXT COLLATE "C" NOT NULL,
    secret_hash  TEXT COLLATE "C" NOT NULL UNIQUE,
    last_chars   TEXT COLLATE "C" NOT NULL,
    valid        BIGINT NOT NULL DEFAULT 1,
    created_by   TEXT COLLATE "C" NOT NULL,
    created_at   TEXT COLLATE "C" NOT NULL,
    updated_at   TEXT COLLATE "C" NOT NULL,
    last_used_at TEXT COLLATE "C",
    expires_at   TEXT COLLATE "C",
    version      BIGINT NOT NULL DEFAULT 1
);

CREATE TABLE memberships (
    scope_id       TEXT COLLATE "C" NOT NULL,
    org_id         TEXT COLLATE "C" NOT NULL REFERENCES orgs(id),
    project_id     TEXT COLLATE "C" REFERENCES projects(id) ON DELETE CASCADE,
    principal_type TEXT COLLATE "C" NOT NULL,
    principal_id   TEXT COLLATE "C" NOT NULL,
    role_id        TEXT COLLATE "C" NOT NULL REFERENCES roles(id),
    created_at     TEXT COLLATE "C" NOT NULL,
    updated_at     TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (scope_id, principal_type, principal_id)
);
CREATE INDEX memberships_role ON memberships(role_id);
CREATE INDEX memberships_principal ON memberships(principal_type, principal_id);

-- The change log: at once the audit log, the feed that keeps every engine current and the
-- source of revision numbers. One row per write, appended in the write's transaction.
CREATE TABLE change_log (
    revision BIGINT PRIMARY KEY,
    at       TEXT COLLATE "C" NOT NULL,
    actor    TEXT COLLATE "C" NOT NULL,
    org_id   TEXT COLLATE "C",
    project_id TEXT COLLATE "C",
    action   TEXT COLLATE "C" NOT NULL,
    target   TEXT COLLATE "C" NOT NULL,
    before   TEXT COLLATE "C",
    after    TEXT COLLATE "C",
    effects  TEXT COLLATE "C" NOT NULL
);
CREATE INDEX change_log_org ON change_log(org_id, revision);
