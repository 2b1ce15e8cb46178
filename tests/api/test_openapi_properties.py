"""The API against its own OpenAPI document, by property-based testing with schemathesis.

Starts the real ``warden serve`` (``$WARDEN_BIN``, default ``target/debug/warden``) on a fresh
SQLite database after ``warden bootstrap``, makes a little data (projects, policies, roles, a
team, users, API keys, invitations) so that path parameters name real objects, loads the
served ``/openapi.json`` and sends every operation generated requests, valid and invalid,
as the org Owner. Every answer must be

- no server error (``not_a_server_error``);
- a documented status code, with the documented content type, and a body that matches the
  documented schema (the success schema, or the ``Error`` body for 4xx and 5xx);
- a 4xx for a request that breaks the document (``negative_data_rejection``);
- a 401 when the key is left out of an operation that needs one (``ignored_auth``);
- for an undocumented method on a documented path, 405 with ``Allow`` (``unsupported_method``,
  ``allow_header_conformance``).

schemathesis's CLI runs the examples, coverage, fuzzing and stateful phases (the last one
adds ``use_after_free`` and ``ensure_resource_availability``) with a configuration written for
this server: the Owner's key as ``Authorization: Bearer``; real ids for every path
parameter, per operation where ``{id}`` names different kinds of objects, deletes being given
objects made to be deleted; and dictionaries of real values (permission keys, roles,
policies, principals, the project, revisions) that body fields draw from part of the time,
so that generated writes and decisions get past "unknown" to what lies behind. The server
runs with the bad-key throttle raised, since ``ignored_auth`` sends bad keys from the test's
own address. schemathesis's pytest plugin is not used: with a schema loaded from a fixture
it does not run on pytest 9.2.

The run is deterministic (the same generated cases each time) unless ``WARDEN_API_SEED`` is
set; it generates at most ``WARDEN_API_EXAMPLES`` (default 50) cases per operation and phase, and
``WARDEN_API_PHASES`` narrows the phases. Without the server binary the test fails
(``cargo build -p warden`` builds it); without schemathesis it skips, or fails under ``CI``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterator, List, Optional

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
    "ignored_auth",
    "unsupported_method",
    "allow_header_conformance",
    "use_after_free",
    "ensure_resource_availability",
]
PHASES = os.environ.get("WARDEN_API_PHASES", "examples,coverage,fuzzing,stateful")
PASSWORD = "analytical engine"
EXAMPLES = int(os.environ.get("WARDEN_API_EXAMPLES", "50"))


def _binary() -> Path:
    configured = os.environ.get("WARDEN_BIN")
    path = (Path(configured) if configured else ROOT / "target" / "debug" / "warden").resolve()
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(
            f"the warden binary was not found at {path}: build it at the repository's root with "
            "`cargo build -p warden`, or point WARDEN_BIN at a built binary",
            pytrace=False,
        )
    return path


def _env() -> Dict[str, str]:
    # The server runs on the flags given here, not on the developer's WARDEN_* settings.
    env = {k: v for k, v in os.environ.items() if not k.startswith("WARDEN_")}
    env["WARDEN_LOG"] = "warn"
    return env


def _require_schemathesis() -> str:
    """The installed schemathesis's version; without it the test skips, or fails under CI."""
    try:
        from importlib.metadata import PackageNotFoundError, version

        return version("schemathesis")
    except PackageNotFoundError:
        message = (
            "schemathesis is not installed: `python3 -m pip install -r tests/api/requirements.txt` "
            "(scripts/test does it)"
        )
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)


@dataclass
class Server:
    base: str
    key: str
    log: Path
    process: subprocess.Popen
    ids: Dict[str, str] = field(default_factory=dict)
    permissions: List[str] = field(default_factory=list)

    def log_since(self, offset: int) -> str:
        with open(self.log, "rb") as f:
            f.seek(offset)
            return f.read().decode(errors="replace")

    def log_size(self) -> int:
        return self.log.stat().st_size


def _start(binary: Path, workdir: Path, database: str) -> tuple[subprocess.Popen, str, Path]:
    log_path = workdir / "server.log"
    # schemathesis sends keys that do not authenticate (`ignored_auth`); at the default of 30
    # a minute the test's own address would be refused (429) with the Owner's key too. A
    # `min_revision` not reached is waited for 0.1 s instead of 2, to spend the run on more
    # requests.
    settings = workdir / "warden.toml"
    settings.write_text(
        "consistency_wait_ms = 100\n[limits]\nfailed_auth_per_minute = 1000000\n"
    )
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [str(binary), "serve", "--listen", "127.0.0.1:0", "--database", database,
             "--config", str(settings)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=_env(),
            cwd=workdir,
        )
    deadline = time.monotonic() + 60
    pattern = re.compile(r"warden listening on (http://\S+)")
    while time.monotonic() < deadline:
        text = log_path.read_text(errors="replace")
        found = pattern.search(text)
        if found:
            base = found.group(1)
            while time.monotonic() < deadline:
                try:
                    if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                        return process, base, log_path
                except httpx.TransportError:
                    pass
                time.sleep(0.05)
            break
        if process.poll() is not None:
            pytest.fail(f"warden serve exited at start:\n{text}", pytrace=False)
        time.sleep(0.05)
    process.kill()
    pytest.fail(f"warden serve did not start:\n{log_path.read_text(errors='replace')}", pytrace=False)


class Api:
    """The Owner's calls that make the data, each required to succeed."""

    def __init__(self, base: str, key: str) -> None:
        self.client = httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=30
        )

    def call(self, method: str, path: str, body: Optional[dict] = None) -> dict:
        r = self.client.request(method, path, json=body)
        assert r.is_success, f"{method} {path} {body}: {r.status_code} {r.text}"
        return r.json()

    def post(self, path: str, body: dict) -> dict:
        return self.call("POST", path, body)

    def user(self, scope: str, email: str, role: str) -> str:
        """A person invited to `scope` and arrived: returns the user's id."""
        made = self.post(f"{scope}/invitations", {"emails": [email], "role_id": role})
        token = made["invitations"][0]["token"]
        r = httpx.post(
            str(self.client.base_url) + "/v1/invitations/accept",
            json={"token": token, "name": email.split("@")[0], "password": PASSWORD},
        )
        assert r.status_code == 201, r.text
        return r.json()["user"]["id"]


def _make_data(api: Api) -> Dict[str, str]:
    """Objects for the path parameters. Deletes get objects of their own, so that what the
    other operations name still exists whichever operation runs first."""
    ids: Dict[str, str] = {}
    org_id = api.call("GET", "/v1/me")["org"]["id"]
    ids["org"] = org_id
    org = f"/v1/orgs/{org_id}"
    ids["project"] = api.post(f"{org}/projects", {"name": "Chatbot"})["id"]
    ids["doomed_project"] = api.post(f"{org}/projects", {"name": "Doomed"})["id"]
    project = f"/v1/projects/{ids['project']}"
    for scope, at in (("org", org), ("project", project)):
        for role in ("", "doomed_"):
            policy = api.post(
                f"{at}/policies",
                {"name": f"{role}Readers", "permission_ids": ["dataset:read", "trace:read"]},
            )["id"]
            ids[f"{role}{scope}_policy"] = policy
            ids[f"{role}{scope}_role"] = api.post(
                f"{at}/roles", {"name": f"{role}Reader", "policy_ids": [policy]}
            )["id"]
            ids[f"{role}{scope}_key"] = api.post(
                f"{at}/api-keys", {"name": f"{role}ingest", "role_id": "Member"}
            )["id"]
        ids[f"{scope}_invitation"] = api.post(
            f"{at}/invitations", {"emails": [f"invited-{scope}@acme.test"], "role_id": "Member"}
        )["invitations"][0]["id"]
    ids["user"] = api.user(org, "grace@acme.test", "Member")
    ids["doomed_user"] = api.user(org, "mallory@acme.test", "Member")
    for user in (ids["user"], ids["doomed_user"]):
        api.call("PUT", f"{project}/members/user:{user}", {"role_id": "Member"})
    team = api.post(f"{org}/teams", {"name": "Research", "key": "research"})
    ids["team"] = team["key"]
    ids["doomed_team"] = api.post(f"{org}/teams", {"name": "Doomed team"})["id"]
    ids["team_id"] = team["id"]
    api.call("PUT", f"{org}/teams/{ids['team']}/users/{ids['user']}")
    return ids


def _permission_keys(api: Api, org_id: str) -> List[str]:
    """The catalogue's permission keys (the org scope lists every one)."""
    page = api.call("GET", f"/v1/orgs/{org_id}/permissions?limit=1000")
    return sorted(p["key"] for p in page["items"])


@pytest.fixture(scope="session")
def warden(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    _require_schemathesis()
    binary = _binary()
    workdir = tmp_path_factory.mktemp("warden-api")
    database = f"sqlite://{workdir / 'warden.db'}"
    boot = subprocess.run(
        [str(binary), "bootstrap", "--org", "Acme", "--owner-email", "ada@acme.test",
         "--database", database],
        capture_output=True,
        text=True,
        env=_env(),
        cwd=workdir,
        timeout=60,
    )
    if boot.returncode != 0 or not boot.stdout.strip():
        pytest.fail(f"warden bootstrap failed:\n{boot.stderr}", pytrace=False)
    key = boot.stdout.strip()
    process, base, log = _start(binary, workdir, database)
    server = Server(base=base, key=key, log=log, process=process)
    try:
        api = Api(base, key)
        server.ids = _make_data(api)
        server.permissions = _permission_keys(api, server.ids["org"])
        api.client.close()
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _operations(ids: Dict[str, str]) -> List[dict]:
    """Per-operation path parameters: `{id}` names a different kind of object under each
    resource, and deletes name objects made to be deleted. Each entry matches operations by
    their name, `METHOD /path`."""
    ops = []

    def at(methods: str, path: str, **params: str) -> None:
        ops.append(
            {
                "include-name-regex": f"^({methods}) {re.escape(path)}$",
                "parameters": {f"path.{k}": v for k, v in params.items()},
            }
        )

    for scope in ("org", "project"):
        base = "/v1/orgs/{org}" if scope == "org" else "/v1/projects/{project}"
        for kind, name in (("policies", "policy"), ("roles", "role"), ("api-keys", "key")):
            at("GET|PATCH", f"{base}/{kind}/{{id}}", id=ids[f"{scope}_{name}"])
            at("DELETE", f"{base}/{kind}/{{id}}", id=ids[f"doomed_{scope}_{name}"])
        invitation = ids[f"{scope}_invitation"]
        at("GET", f"{base}/invitations/{{id}}", id=invitation)
        at("POST", f"{base}/invitations/{{id}}/resend", id=invitation)
        at("POST", f"{base}/invitations/{{id}}/revoke", id=invitation)
        at("DELETE", f"{base}/members/{{principal}}", principal=f"user:{ids['doomed_user']}")
    at("DELETE", "/v1/projects/{project}", project=ids["doomed_project"])
    at("DELETE", "/v1/orgs/{org}/teams/{team}", team=ids["doomed_team"])
    return ops


def _toml(data: dict, prefix: str = "") -> str:
    """The little TOML the configuration needs: scalars, tables, arrays of tables."""
    lines: List[str] = []
    tables = []
    for key, value in data.items():
        name = key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key)
        if isinstance(value, dict):
            tables.append((name, value, False))
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            tables.append((name, value, True))
        else:
            lines.append(f"{name} = {json.dumps(value)}")
    for name, value, many in tables:
        path = f"{prefix}{name}"
        for table in value if many else [value]:
            lines.append(f"\n{'[[' if many else '['}{path}{']]' if many else ']'}")
            lines.append(_toml(table, path + "."))
    return "\n".join(line for line in lines if line)


def _dictionaries(warden: Server) -> Dict[str, List]:
    """Real values that bodies draw from some of the time, so that generated writes and
    questions get past "unknown permission" or "no such principal" to what lies behind."""
    ids = warden.ids
    return {
        "permissions": warden.permissions,
        "roles": ["Member", "Admin", "Manager", ids["org_role"], ids["project_role"]],
        "policies": [ids["org_policy"], ids["project_policy"]],
        "principals": [f"user:{ids['user']}", f"team:{ids['team_id']}", f"api_key:{ids['org_key']}"],
        "subject_types": ["user", "team", "api_key"],
        "subject_ids": [ids["user"], ids["team_id"], ids["org_key"]],
        "projects": [ids["project"]],
        "orgs": [ids["org"]],
        "resource_types": ["project", "organization"],
        "resource_ids": [ids["project"], ids["org"]],
        "emails": ["new@acme.test", "grace@acme.test", "Other@Acme.test"],
        "passwords": [PASSWORD],
        "times": ["2099-01-01T00:00:00Z", "2000-01-01T00:00:00Z"],
        # Revisions written, and one far beyond any.
        "revisions": [1, 2, 1_000_000],
    }


# Body fields bound to a dictionary, each drawn from it with this probability. Never bound:
# `user_id` of a transfer of ownership, which would demote the Owner's key the run holds.
BINDINGS = {
    "permissions": [
        "permission_ids[*]",
        "permissions[*]",
        "permission",
        "checks[*].permission",
        "action.name",
        "evaluations[*].action.name",
    ],
    "roles": ["role_id"],
    "policies": ["policy_ids[*]"],
    "principals": ["principal", "checks[*].principal"],
    "subject_types": ["subject.type", "evaluations[*].subject.type"],
    "subject_ids": ["subject.id", "evaluations[*].subject.id"],
    "projects": ["project_id", "checks[*].project_id"],
    "orgs": ["org_id", "checks[*].org_id"],
    "resource_types": ["resource.type", "evaluations[*].resource.type"],
    "resource_ids": ["resource.id", "evaluations[*].resource.id"],
    "emails": ["emails[*]", "email"],
    "passwords": ["password"],
    "times": ["expires_at"],
    "revisions": ["min_revision", "context.min_revision"],
}


def _config(warden: Server) -> dict:
    ids = warden.ids
    parameters: Dict[str, object] = {
        "path.org": ids["org"],
        "path.project": ids["project"],
        "path.principal": f"user:{ids['user']}",
        "path.team": ids["team"],
        "path.user": ids["user"],
        "path.permission": "dataset:read",
    }
    for dictionary, fields in BINDINGS.items():
        for name in fields:
            parameters[f"body.{name}"] = {"dictionary": dictionary, "probability": 0.6}
    return {
        "auth": {"openapi": {"apiKey": {"bearer": warden.key}}},
        "dictionaries": {k: {"values": v} for k, v in _dictionaries(warden).items()},
        "parameters": parameters,
        "operations": _operations(ids),
    }


def test_every_operation_answers_as_documented(warden: Server, tmp_path: Path) -> None:
    version = _require_schemathesis()
    config = tmp_path / "schemathesis.toml"
    config.write_text(_toml(_config(warden)) + "\n")
    har = tmp_path / "requests.har"
    seed = os.environ.get("WARDEN_API_SEED")
    command = [
        sys.executable, "-m", "schemathesis.cli", "--config-file", str(config), "--no-color",
        "run", warden.base + "/openapi.json",
        "--checks", ",".join(CHECKS),
        "--phases", PHASES,
        "--max-examples", str(EXAMPLES),
        # One worker: the server has the machine's other core, and the run is the same
        # sequence of requests each time.
        "--workers", "1",
        "--suppress-health-check", "all",
        "--request-timeout", "30",
        "--report", "har",
        "--report-har-path", str(har),
    ] + (
        ["--seed", seed, "--generation-database", "none"] if seed else ["--generation-deterministic"]
    )
    offset = warden.log_size()
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=1200)
    took = time.monotonic() - started
    requests = len(json.loads(har.read_text())["log"]["entries"]) if har.exists() else 0
    print(f"schemathesis {version}: {requests} requests in {took:.0f} s\n{done.stdout}")
    if done.returncode != 0:
        logged = "\n".join(
            line
            for line in warden.log_since(offset).splitlines()
            if "ERROR" in line or "panicked" in line
        )
        pytest.fail(
            f"schemathesis {version} found problems (exit {done.returncode}; {requests} requests; "
            f"its report: {har}):\n{done.stdout}\n{done.stderr}"
            + (f"\nthe server logged:\n{logged}" if logged else ""),
            pytrace=False,
        )
    assert requests > 0, f"schemathesis sent nothing:\n{done.stdout}"
