"""Testing a docker connection from the web: a live scheduler logs in to the real test registry with the real
engine and the web server shows its answer (the API, the form's Test button); with no scheduler it says so."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from playwright.sync_api import Browser, expect

from dockyard.connection_requests import ask_scheduler
from dockyard.connections import Connection, Connections, decrypt, load_fernet
from dockyard.registry_login import LoginResult
from dockyard.store.models import ConnectionTestModel
from tests.helpers import wait_for
from tests.registry import JSON_KEY, LOGIN, PASSWORD, Registry
from tests.web.conftest import SecureSite, Site, csrf_of, signed_in_page, site_with_dags

pytestmark = pytest.mark.engine

WRONG = "not-the-pass-3c9e"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, engine: object) -> Iterator[Site]:
    """A web server and a scheduler that has made a pass (so its heartbeat is recent)."""
    with site_with_dags(tmp_path_factory.mktemp("conntest"), {}) as site:
        wait_for(lambda: site.store.get_meta("scheduler_heartbeat"), timeout=60, what="a scheduler pass")
        yield site


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed again when the block ends: nothing listens there


def _docker(host: str, password: str, login: str = LOGIN, **more: object) -> dict[str, object]:
    address, port = host.rsplit(":", 1)
    return {"conn_type": "docker", "host": address, "port": int(port), "login": login, "password": password, **more}


def _test(site: Site | SecureSite, body: dict[str, object]) -> dict[str, object]:
    response = site.api("POST", "/connections/test", json=body)
    assert response.status_code == 200, response.text
    found: dict[str, object] = response.json()
    return found


def _no_requests_left(site: Site | SecureSite) -> bool:
    with site.store.session() as s:
        return s.scalar(sa.select(sa.func.count()).select_from(ConnectionTestModel)) == 0


def _secrets(site: SecureSite) -> list[str]:
    with site.store.session() as s:
        return [row for row in s.scalars(sa.select(ConnectionTestModel.secret)) if row]


def test_a_correct_login_is_reported_as_a_success(live: Site, registry: Registry) -> None:
    answer = _test(live, {"connection_id": "reg", **_docker(registry.address, PASSWORD)})
    assert answer["status"] is True, answer
    assert f"Logged in to registry {registry.address} as 'robot'" in str(answer["message"])
    assert PASSWORD not in str(answer["message"])
    assert _no_requests_left(live)


def test_googles_json_key_login_is_tested_as_such(live: Site, registry: Registry) -> None:
    answer = _test(live, {"connection_id": "gcr", **_docker(registry.json_key_address, JSON_KEY, "_json_key")})
    assert answer["status"] is True, answer
    assert "private_key" not in str(answer["message"])


def test_a_wrong_password_names_the_refused_login(live: Site, registry: Registry) -> None:
    answer = _test(live, {"connection_id": "reg", **_docker(registry.address, WRONG)})
    message = str(answer["message"])
    assert answer["status"] is False
    assert f"registry {registry.address} refused the login of 'robot'" in message.lower()
    assert f"is well-formed. Registry {registry.address} refused" in message  # two sentences
    assert "Check the login and password" in message
    assert WRONG not in message
    assert _no_requests_left(live)


def test_an_unreachable_or_unknown_registry_is_named(live: Site) -> None:
    address = f"127.0.0.1:{_closed_port()}"
    closed = _test(live, {"connection_id": "reg", **_docker(address, PASSWORD)})
    assert closed["status"] is False
    assert f"could not reach registry {address}" in str(closed["message"]).lower()
    assert "Check the host and port" in str(closed["message"])
    unknown = _test(live, {"connection_id": "reg", **_docker("no-such-registry.invalid:5000", PASSWORD)})
    assert unknown["status"] is False
    assert "could not reach registry no-such-registry.invalid:5000" in str(unknown["message"]).lower()
    assert PASSWORD not in str(closed["message"]) + str(unknown["message"])


def test_a_stored_connection_is_tested_by_its_id(live: Site, registry: Registry) -> None:
    host, port = registry.address.rsplit(":", 1)
    Connections(live.settings, live.store).add(
        Connection("stored_reg", "docker", host=host, port=int(port), login=LOGIN, password=PASSWORD), replace=True
    )
    answer = _test(live, {"connection_id": "stored_reg"})
    assert answer["status"] is True, answer
    other = _test(live, {"connection_id": "db", "conn_type": "postgres", "host": "h"})
    assert other == {"status": True, "message": "connection 'db' of type 'postgres' is well-formed"}


def test_the_test_button_shows_the_schedulers_answer(browser: Browser, live: Site, registry: Registry) -> None:
    host, port = registry.address.rsplit(":", 1)
    with signed_in_page(browser, live) as page:
        page.goto(live.url + "/connections")
        page.fill("#conn_id", "ui_login")
        page.fill("#host", host)
        page.fill("#port", port)
        page.fill("#login", LOGIN)
        page.fill("#password", WRONG)
        page.click("#conn-check")
        expect(page.locator("#check-result")).to_contain_text("is well-formed")
        expect(page.locator("#login-result")).to_have_attribute("data-ok", "false", timeout=30_000)
        expect(page.locator("#login-result")).to_contain_text(f"registry {registry.address} refused the login")
        assert WRONG not in page.content()
        page.fill("#password", PASSWORD)  # the unsaved form's password is the one tested
        page.click("#conn-check")
        expect(page.locator("#login-result")).to_have_attribute("data-ok", "true", timeout=30_000)
        expect(page.locator("#login-result")).to_contain_text(f"Logged in to registry {registry.address}")
        assert PASSWORD not in page.content()


def test_with_no_scheduler_the_web_says_so(make_site: Callable[..., SecureSite]) -> None:
    site = make_site()  # a web server and no scheduler
    started = time.monotonic()
    answer = _test(site, {"connection_id": "reg", **_docker("127.0.0.1:5000", PASSWORD)})
    assert answer["status"] is False
    assert "connection 'reg' of type 'docker' is well-formed" in str(answer["message"])
    assert "was not tested: no scheduler is running to test it" in str(answer["message"])
    assert time.monotonic() - started < 10  # no heartbeat: nothing to wait for
    session = site.login()
    page = session.post(
        site.url + "/connections/check",
        data={"csrf": csrf_of(session, site.url), "conn_id": "reg", "conn_type": "docker", "host": "127.0.0.1",
              "login": LOGIN, "password": PASSWORD, "extra": "{}"},
        headers={"HX-Request": "true"},
        timeout=30,
    )  # fmt: skip
    assert page.status_code == 200, page.text
    assert 'id="check-result" data-ok="true"' in page.text
    assert 'data-tested="false"' in page.text and "no scheduler is running to test it" in page.text


def test_a_request_holds_the_connection_encrypted_and_is_withdrawn_unanswered(
    make_site: Callable[..., SecureSite],
) -> None:
    """A scheduler that stopped a moment ago still has a recent heartbeat: the web server files the test,
    waits, and withdraws it when nobody takes it. Meanwhile the row holds no password in plain text."""
    site = make_site()
    conn = Connection("reg", "docker", host="127.0.0.1", port=5000, login=LOGIN, password=PASSWORD)
    results: list[LoginResult] = []
    asking = threading.Thread(
        target=lambda: results.append(ask_scheduler(site.settings, site.store, conn, scheduler_seen=True, wait=3))
    )
    asking.start()
    secret = wait_for(lambda: _secrets(site), timeout=10, what="the filed request")[0]
    assert PASSWORD not in secret and LOGIN not in secret
    fernet = load_fernet(Path(site.settings.home), site.settings.fernet_key)
    assert json.loads(decrypt(fernet, secret, conn_id="reg", what="test") or "")["password"] == PASSWORD
    asking.join(timeout=20)
    assert results and results[0].tested is False and results[0].ok is False
    assert "no scheduler is running to test it (none took the test within 3 s)" in results[0].message
    assert _no_requests_left(site)


def test_a_request_left_behind_is_cleared(make_site: Callable[..., SecureSite]) -> None:
    from dockyard.store import conn_tests, utcnow

    site = make_site()
    conn_tests.file_request(site.store, "reg", "token")
    assert conn_tests.take_requests(site.store, stale_before=utcnow()) == []
    assert _no_requests_left(site)
