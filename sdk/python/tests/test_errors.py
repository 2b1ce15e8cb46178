"""Every exception type: provoked for real against the server where it can be, mapped from
fake answers (httpx.MockTransport) where it cannot yet (429, 5xx), and the retries."""

from __future__ import annotations

import email.utils
import time
from typing import Callable, List

import httpx
import pytest

from warden import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    PreconditionFailedError,
    RateLimitError,
    ServerError,
    UnprocessableEntityError,
    Warden,
    WardenError,
)

from .conftest import WardenServer

MISSING_ID = "0190f2a4-8c1e-7a3b-9d2f-4b6c8e0a1f3d"


# --- provoked for real -------------------------------------------------------------------


def test_400_bad_input(client: Warden) -> None:
    with pytest.raises(BadRequestError) as caught:
        client.organization().policies.create("", permission_ids=["dataset:read"])
    error = caught.value
    assert (error.status, error.code) == (400, "invalid_field")
    assert "`name` must not be empty" in error.message
    assert error.details == {"field": "name"}
    assert isinstance(error, APIStatusError) and isinstance(error, WardenError)
    assert str(error).startswith("400 invalid_field: ")

    policy = client.organization().policies.create("Something", permission_ids=["trace:read"])
    with pytest.raises(BadRequestError) as caught:
        client.organization().policies.update(policy.id)
    assert caught.value.code == "empty_update"
    with pytest.raises(BadRequestError) as caught:
        client.organization().members.get("robot:x")
    assert caught.value.code == "invalid_principal"


def test_400_page_size_is_checked_before_sending(client: Warden) -> None:
    with pytest.raises(ValueError, match="page_size"):
        client.roles.list(page_size=101).to_list()


def test_401_bad_key(warden_server: WardenServer) -> None:
    with Warden(api_key="wdn_not_a_key", base_url=warden_server.base_url) as bogus:
        with pytest.raises(AuthenticationError) as caught:
            bogus.whoami()
    assert caught.value.status == 401
    assert caught.value.code == "unauthenticated"
    assert "not valid" in caught.value.message


def test_401_no_key(warden_server: WardenServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WARDEN_API_KEY", raising=False)
    with Warden(base_url=warden_server.base_url) as keyless:
        with pytest.raises(AuthenticationError) as caught:
            keyless.organization().roles.list().to_list()
    assert "Authorization: Bearer" in caught.value.message


def test_403_member_key_writing(member_client: Warden) -> None:
    with pytest.raises(PermissionDeniedError) as caught:
        member_client.organization().policies.create("Nope", permission_ids=["dataset:read"])
    error = caught.value
    assert (error.status, error.code) == (403, "forbidden")
    assert error.details["missing"] == ["policy:create"]
    assert "policy:create" in error.message
    # Reading is allowed to a Member.
    assert member_client.organization().policies.list().to_list() == []


def test_404(client: Warden) -> None:
    with pytest.raises(NotFoundError) as caught:
        client.organization().policies.get(MISSING_ID)
    assert (caught.value.status, caught.value.code) == (404, "not_found")
    assert MISSING_ID in caught.value.message
    with pytest.raises(NotFoundError):
        client.project(MISSING_ID).roles.list().to_list()


def test_409_duplicate_name(client: Warden) -> None:
    org = client.organization()
    org.policies.create("Duplicate", permission_ids=["dataset:read"])
    with pytest.raises(ConflictError) as caught:
        org.policies.create("duplicate", permission_ids=["dataset:read"])
    error = caught.value
    assert (error.status, error.code) == (409, "name_taken")
    assert error.details["existing"] == "Duplicate"


def test_412_stale_version(client: Warden) -> None:
    role = client.roles.create("Versioned", permissions=["dataset:read"])
    client.roles.update(role.id, description="changed")
    with pytest.raises(PreconditionFailedError) as caught:
        client.roles.update(role.id, description="again", if_version=role.version)
    assert (caught.value.status, caught.value.code) == (412, "version_mismatch")


def test_422_unknown_permission(client: Warden) -> None:
    with pytest.raises(UnprocessableEntityError) as caught:
        client.organization().policies.create("Flyers", permission_ids=["dataset:fly"])
    error = caught.value
    assert (error.status, error.code) == (422, "unknown_permissions")
    assert error.details["unknown"] == ["dataset:fly"]
    assert "dataset:fly" in error.message


def test_connection_refused(warden_server: WardenServer, monkeypatch: pytest.MonkeyPatch) -> None:
    # A port nothing listens on: bind one, note it, close it.
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with Warden(api_key="k", base_url=f"http://127.0.0.1:{port}", max_retries=1) as client:
        monkeypatch.setattr(client._core, "retry_base_delay", 0.01)
        with pytest.raises(APIConnectionError) as caught:
            client.whoami()
    assert caught.value.status is None
    assert "could not reach the Warden server" in str(caught.value)
    assert "after 2 attempts" in str(caught.value)
    assert isinstance(caught.value.__cause__, httpx.ConnectError)


# --- mapped from fake answers ------------------------------------------------------------


def fake_client(handler: Callable[[httpx.Request], httpx.Response], **kwargs: object) -> Warden:
    client = Warden(
        api_key="k",
        base_url="http://warden.test",
        org_id="org",
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),
        **kwargs,  # type: ignore[arg-type]
    )
    client._core.retry_base_delay = 0.001
    return client


def answering(
    status: int, body: object = None, headers: object = None
) -> Callable[[httpx.Request], httpx.Response]:
    calls: List[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if isinstance(body, (dict, list)):
            return httpx.Response(status, json=body, headers=headers)  # type: ignore[arg-type]
        return httpx.Response(status, text=str(body or ""), headers=headers)  # type: ignore[arg-type]

    handler.calls = calls  # type: ignore[attr-defined]
    return handler


def error_body(code: str, message: str, **details: object) -> dict:
    return {"error": {"code": code, "message": message, "details": details}}


@pytest.mark.parametrize(
    "status, cls",
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (409, ConflictError),
        (412, PreconditionFailedError),
        (422, UnprocessableEntityError),
        (429, RateLimitError),
        (500, ServerError),
        (502, ServerError),
        (503, ServerError),
        (418, APIStatusError),
    ],
)
def test_status_mapping(status: int, cls: type) -> None:
    handler = answering(status, error_body("some_code", "what to change", field="name"))
    with fake_client(handler) as client:
        with pytest.raises(cls) as caught:
            client.roles.get(MISSING_ID)
    error = caught.value
    assert type(error) is cls
    assert (error.status, error.code, error.message) == (status, "some_code", "what to change")
    assert error.details == {"field": "name"}
    assert error.response is not None and error.response.status_code == status
    assert len(handler.calls) == 1, "error answers are never retried"  # type: ignore[attr-defined]


def test_429_retry_after_in_seconds() -> None:
    handler = answering(429, error_body("rate_limited", "slow down"), {"Retry-After": "7"})
    with fake_client(handler) as client:
        with pytest.raises(RateLimitError) as caught:
            client.whoami()
    assert caught.value.retry_after == 7.0
    assert caught.value.status == 429
    assert len(handler.calls) == 1  # type: ignore[attr-defined]


def test_429_retry_after_as_a_date() -> None:
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    handler = answering(429, error_body("rate_limited", "slow down"), {"Retry-After": when})
    with fake_client(handler) as client:
        with pytest.raises(RateLimitError) as caught:
            client.whoami()
    assert caught.value.retry_after is not None and 20 < caught.value.retry_after <= 30


def test_429_without_retry_after() -> None:
    with fake_client(answering(429, "too many")) as client:
        with pytest.raises(RateLimitError) as caught:
            client.whoami()
    assert caught.value.retry_after is None
    assert caught.value.message == "too many"


def test_5xx_without_a_json_body() -> None:
    handler = answering(502, "<html>Bad Gateway</html>")
    with fake_client(handler) as client:
        with pytest.raises(ServerError) as caught:
            client.whoami()
    assert caught.value.status == 502
    assert caught.value.code == "http_502"
    assert "Bad Gateway" in caught.value.message


def test_503_not_consistent() -> None:
    handler = answering(503, error_body("not_consistent", "revision 9 not reached in 2 s"))
    with fake_client(handler) as client:
        with pytest.raises(ServerError) as caught:
            client.check("user:u", "dataset:read", min_revision=9)
    assert caught.value.code == "not_consistent"


# --- retries -----------------------------------------------------------------------------


def failing_then(
    failures: List[Exception], answer: httpx.Response
) -> Callable[[httpx.Request], httpx.Response]:
    calls: List[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if failures:
            raise failures.pop(0)
        return answer

    handler.calls = calls  # type: ignore[attr-defined]
    return handler


ME = {
    "principal": "api_key:k",
    "api_key": {"id": "k", "name": "key"},
    "org": {"id": "org", "name": "Acme", "created_at": "", "updated_at": "", "version": 1},
    "scope": "org",
    "permissions": [],
    "revision": 3,
}


def test_connection_errors_are_retried_with_backoff() -> None:
    handler = failing_then(
        [httpx.ConnectError("refused"), httpx.ConnectError("refused")],
        httpx.Response(200, json=ME),
    )
    with fake_client(handler) as client:
        assert client.whoami().revision == 3
    assert len(handler.calls) == 3  # type: ignore[attr-defined]


def test_retries_stop_at_max_retries() -> None:
    failures: List[Exception] = [httpx.ConnectError("refused") for _ in range(10)]
    handler = failing_then(failures, httpx.Response(200, json=ME))
    with fake_client(handler, max_retries=3) as client:
        with pytest.raises(APIConnectionError) as caught:
            client.whoami()
    assert len(handler.calls) == 4  # type: ignore[attr-defined]
    assert "after 4 attempts" in caught.value.message


def test_no_retries_when_max_retries_is_zero() -> None:
    handler = failing_then([httpx.ConnectError("refused")], httpx.Response(200, json=ME))
    with fake_client(handler, max_retries=0) as client:
        with pytest.raises(APIConnectionError):
            client.whoami()
    assert len(handler.calls) == 1  # type: ignore[attr-defined]


def test_a_write_is_not_sent_twice_after_the_connection_broke() -> None:
    # The POST may have reached the server: sending it again could create twice.
    handler = failing_then([httpx.ReadError("reset")], httpx.Response(201, json={"id": "p"}))
    with fake_client(handler) as client:
        with pytest.raises(APIConnectionError):
            client.organization().policies.create("P", permission_ids=["dataset:read"])
    assert len(handler.calls) == 1  # type: ignore[attr-defined]


def test_a_read_is_sent_again_after_the_connection_broke() -> None:
    handler = failing_then([httpx.ReadError("reset")], httpx.Response(200, json=ME))
    with fake_client(handler) as client:
        assert client.whoami().principal == "api_key:k"
    assert len(handler.calls) == 2  # type: ignore[attr-defined]


def test_timeouts() -> None:
    failures: List[Exception] = [httpx.ReadTimeout("slow") for _ in range(3)]
    handler = failing_then(failures, httpx.Response(200, json=ME))
    with fake_client(handler) as client:
        with pytest.raises(APITimeoutError) as caught:
            client.whoami()
    assert isinstance(caught.value, APIConnectionError)
    assert "timed out" in caught.value.message
    assert len(handler.calls) == 3  # type: ignore[attr-defined]


def test_backoff_grows() -> None:
    client = Warden(api_key="k", base_url="http://warden.test")
    delays = [client._core.retry_delay(n) for n in range(6)]
    assert 0.375 <= delays[0] <= 0.625
    assert 0.75 <= delays[1] <= 1.25
    assert delays[5] <= 8.0 * 1.25


def test_requests_carry_the_key_and_json() -> None:
    seen: List[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json={"id": "p", "name": "P"}, headers={"Warden-Revision": "12"})

    with fake_client(handler) as client:
        policy = client.organization().policies.create("P", permission_ids=["dataset:read"])
    assert policy.write_revision == 12
    [request] = seen
    assert request.headers["authorization"] == "Bearer k"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"].startswith("warden-python/")
    assert request.url.path == "/v1/orgs/org/policies"
