"""Fixtures: a real Warden server, started once per test session on a free port with a
fresh SQLite database, and one freshly bootstrapped organization per test.

The server binary is ``$WARDEN_BIN``, else ``../../target/debug/warden`` relative to
``sdk/python`` (build it with ``cargo build -p warden`` at the repository's root).
"""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, List, Optional

import httpx
import pytest

from warden import Warden

SDK_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_BINARY = SDK_ROOT / ".." / ".." / "target" / "debug" / "warden"
README = SDK_ROOT / "README.md"
ROOT_README = SDK_ROOT.parents[1] / "README.md"

_counter = itertools.count(1)


def unique(prefix: str) -> str:
    """A name no other test uses."""
    return f"{prefix}-{os.getpid()}-{next(_counter)}"


def warden_binary() -> Path:
    configured = os.environ.get("WARDEN_BIN")
    path = Path(configured) if configured else DEFAULT_BINARY.resolve()
    if not path.is_file() or not os.access(path, os.X_OK):
        where = f"WARDEN_BIN={configured}" if configured else str(path)
        pytest.fail(
            f"the warden server binary was not found at {where}. Build it at the repository's "
            "root with `cargo build -p warden` (it lands in target/debug/warden), or point "
            "WARDEN_BIN at a built binary.",
            pytrace=False,
        )
    return path


def _server_env() -> dict:
    env = dict(os.environ)
    # The server must run on the flags given here, not on the developer's settings.
    for name in list(env):
        if name.startswith("WARDEN_"):
            del env[name]
    env["WARDEN_LOG"] = "warn"
    return env


class WardenServer:
    """A running ``warden serve`` and the means to bootstrap organizations in it."""

    def __init__(self, binary: Path, workdir: Path) -> None:
        self.binary = binary
        self.workdir = workdir
        self.database = f"sqlite://{workdir / 'warden.db'}"
        self.log_path = workdir / "server.log"
        self.base_url = ""
        self._process: Optional[subprocess.Popen] = None

    def start(self, timeout: float = 60.0) -> None:
        log = open(self.log_path, "wb")
        self._process = subprocess.Popen(
            [str(self.binary), "serve", "--listen", "127.0.0.1:0", "--database", self.database],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=_server_env(),
            cwd=self.workdir,
        )
        log.close()
        deadline = time.monotonic() + timeout
        pattern = re.compile(r"warden listening on (http://\S+)")
        while time.monotonic() < deadline:
            text = self.log_path.read_text(errors="replace")
            found = pattern.search(text)
            if found:
                self.base_url = found.group(1)
                break
            if self._process.poll() is not None:
                pytest.fail(f"warden serve exited at start:\n{text}", pytrace=False)
            time.sleep(0.05)
        else:
            self.stop()
            pytest.fail(f"warden serve did not start in {timeout:.0f} s:\n{text}", pytrace=False)
        # The port is open once the line is printed; wait for the answer all the same.
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.base_url + "/healthz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        pytest.fail("warden serve does not answer /healthz", pytrace=False)

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()

    def bootstrap(self, org: str, owner_email: str) -> str:
        """Creates an organization with its Owner; returns the Owner API key."""
        done = subprocess.run(
            [
                str(self.binary),
                "bootstrap",
                "--org",
                org,
                "--owner-email",
                owner_email,
                "--database",
                self.database,
            ],
            capture_output=True,
            text=True,
            env=_server_env(),
            cwd=self.workdir,
            timeout=60,
        )
        if done.returncode != 0:
            pytest.fail(f"warden bootstrap failed:\n{done.stderr}", pytrace=False)
        key = done.stdout.strip()
        assert key, f"warden bootstrap printed no key:\n{done.stderr}"
        return key


@pytest.fixture(scope="session")
def warden_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WardenServer]:
    server = WardenServer(warden_binary(), tmp_path_factory.mktemp("warden"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@dataclass
class OrgHandle:
    """A freshly bootstrapped organization: its Owner key, a client holding it, its id and
    the Owner user's email."""

    api_key: str
    client: Warden
    org_id: str
    owner_email: str
    owner_user_id: str


@pytest.fixture
def new_org(warden_server: WardenServer) -> Iterator[Callable[[], OrgHandle]]:
    """Makes organizations: each call bootstraps a new one."""
    made: List[Warden] = []

    def make() -> OrgHandle:
        name = unique("org")
        email = f"{name}@example.test"
        key = warden_server.bootstrap(name, email)
        client = Warden(api_key=key, base_url=warden_server.base_url, max_retries=0)
        made.append(client)
        me = client.whoami()
        owners = client.organization().members.list(principal_type="user")
        owner = next(m for m in owners if m.email == email)
        return OrgHandle(key, client, me.org.id, email, owner.principal_id)

    yield make
    for client in made:
        client.close()


@pytest.fixture
def org(new_org: Callable[[], OrgHandle]) -> OrgHandle:
    """A fresh organization for this test."""
    return new_org()


@pytest.fixture
def client(org: OrgHandle) -> Warden:
    """A client holding the Owner key of a fresh organization."""
    return org.client


@pytest.fixture
def env_client(
    org: OrgHandle, warden_server: WardenServer, monkeypatch: pytest.MonkeyPatch
) -> OrgHandle:
    """Sets WARDEN_API_KEY and WARDEN_BASE_URL to a fresh organization's Owner key, so that
    ``Warden()`` finds them as a user's environment would give them."""
    monkeypatch.setenv("WARDEN_API_KEY", org.api_key)
    monkeypatch.setenv("WARDEN_BASE_URL", warden_server.base_url)
    return org


@pytest.fixture
def member_client(client: Warden, warden_server: WardenServer) -> Iterator[Warden]:
    """A client holding an org API key with the predefined Member role."""
    key = client.organization().api_keys.create(unique("member-key"), role_id="Member")
    member = Warden(api_key=key.secret, base_url=warden_server.base_url, max_retries=0)
    yield member
    member.close()


@pytest.fixture
def project_id(client: Warden) -> str:
    """A new project of the fresh organization."""
    return client.projects.create(unique("project")).id


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def readme_blocks(tag: str, readme: Path = README) -> List[str]:
    """The ```python blocks of ``readme`` (the SDK's README unless told) that follow a
    ``<!-- test: TAG -->`` comment, in order.

    Blocks without a comment carry the tag ``main``.
    """
    text = readme.read_text(encoding="utf-8")
    blocks = []
    pattern = re.compile(r"(?:<!--\s*test:\s*(\w+)\s*-->\s*\n)?```python\n(.*?)```", re.S)
    for found in pattern.finditer(text):
        if (found.group(1) or "main") == tag:
            blocks.append(found.group(2))
    return blocks
