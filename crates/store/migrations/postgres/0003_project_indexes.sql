-- Deleting a project, removing a user from an org and listing keys find rows by project or
-- org; without these indexes (and for SQLite's foreign-key checks on a deleted project) they
-- scan whole tables, holding the one write connection longer as the data grows.
CREATE INDEX memberships_project ON memberships(project_id);
CREATE INDEX api_keys_org ON api_keys(org_id, user_id);
CREATE INDEX api_keys_project ON api_keys(project_id);
CREATE INDEX roles_project ON roles(project_id);
CREATE INDEX policies_project ON policies(project_id);
CREATE INDEX invitations_project ON invitations(project_id);
