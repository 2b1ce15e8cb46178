-- People and access: which users belong to which org, invitations, and personal API keys.

-- A user belongs to an org (and may then hold roles in it and in its projects, directly or
-- through teams) independently of holding an org role.
CREATE TABLE org_users (
    org_id     TEXT COLLATE "C" NOT NULL REFERENCES orgs(id),
    user_id    TEXT COLLATE "C" NOT NULL REFERENCES users(id),
    created_at TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (org_id, user_id)
);
CREATE INDEX org_users_user ON org_users(user_id);
INSERT INTO org_users (org_id, user_id, created_at)
    SELECT DISTINCT org_id, principal_id, created_at FROM memberships WHERE principal_type = 'user';

CREATE TABLE invitations (
    id               TEXT COLLATE "C" PRIMARY KEY,
    org_id           TEXT COLLATE "C" NOT NULL REFERENCES orgs(id),
    project_id       TEXT COLLATE "C" REFERENCES projects(id) ON DELETE CASCADE,
    scope_id         TEXT COLLATE "C" NOT NULL,
    email            TEXT COLLATE "C" NOT NULL,
    email_key        TEXT COLLATE "C" NOT NULL,
    role_id          TEXT COLLATE "C" NOT NULL REFERENCES roles(id) ON DELETE CASCADE,
    status           TEXT COLLATE "C" NOT NULL,
    token_hash       TEXT COLLATE "C" NOT NULL UNIQUE,
    created_by       TEXT COLLATE "C" NOT NULL,
    created_at       TEXT COLLATE "C" NOT NULL,
    updated_at       TEXT COLLATE "C" NOT NULL,
    expires_at       TEXT COLLATE "C" NOT NULL,
    accepted_at      TEXT COLLATE "C",
    accepted_user_id TEXT COLLATE "C",
    version          BIGINT NOT NULL DEFAULT 1
);
CREATE INDEX invitations_scope ON invitations(scope_id, status);
CREATE UNIQUE INDEX invitations_pending ON invitations(scope_id, email_key) WHERE status = 'pending';

-- A personal key acts as its user (principal `user:<id>`) and holds no role of its own.
ALTER TABLE api_keys ADD COLUMN user_id TEXT COLLATE "C" REFERENCES users(id);
