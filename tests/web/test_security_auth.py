"""Authentication on a real server over real SQLite and PostgreSQL: API tokens (revoked, expiring, bound to
the user's uid), login throttling, bounded password hashing, server-side sessions, the Secure cookie, and
the API docs behind the login."""

from __future__ import annotations

import base64
import datetime as dt
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable

import requests

from dockyard.store.models import UserModel
from dockyard.users import create_token, create_user
from tests.web.conftest import ADMIN, VIEWER, SecureSite, csrf_of

MakeSite = Callable[..., SecureSite]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def cli(site: SecureSite, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dockyard", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **site.env},
        timeout=120,
    )


def test_a_token_does_not_pass_to_a_new_user_of_the_same_name(make_site: MakeSite) -> None:
    site = make_site()
    create_user(site.store, "carol", "carol-pass-123", "viewer")
    token = create_token(site.store, "carol")
    assert site.api("GET", "/dags", auth=None, headers=bearer(token)).status_code == 200
    assert (
        site.api("POST", "/variables", auth=None, headers=bearer(token), json={"key": "k", "value": "v"}).status_code
        == 403
    )
    deleted = cli(site, "users", "delete", "-u", "carol")
    assert deleted.returncode == 0, deleted.stderr
    assert site.store.list_tokens("carol") == []
    create_user(site.store, "carol", "carol-admin-123", "admin")
    # the old viewer token must not become an admin token
    assert site.api("GET", "/dags", auth=None, headers=bearer(token)).status_code == 401
    assert (
        site.api("POST", "/variables", auth=None, headers=bearer(token), json={"key": "k", "value": "v"}).status_code
        == 401
    )


def test_a_user_replaced_in_the_store_leaves_its_tokens_dead(make_site: MakeSite) -> None:
    """Even a user row deleted behind dockyard's back (tokens left over) does not hand its tokens on."""
    site = make_site()
    create_user(site.store, "dave", "dave-pass-123", "viewer")
    token = create_token(site.store, "dave")
    site.store.delete_user("dave")  # the plain delete: leaves the token row
    create_user(site.store, "dave", "dave-admin-123", "admin")
    assert site.api("GET", "/dags", auth=None, headers=bearer(token)).status_code == 401


def test_tokens_are_revoked_from_the_cli_and_listed_without_the_token(make_site: MakeSite) -> None:
    site = make_site()
    made = cli(site, "users", "token", "-u", ADMIN[0], "-d", "ci job")
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    assert site.api("GET", "/dags", auth=None, headers=bearer(token)).status_code == 200
    listed = cli(site, "users", "token", "--list", "-o", "json")
    assert "ci job" in listed.stdout and token not in listed.stdout
    token_id = made.stderr.split("Token id ")[1].split()[0]
    assert token_id in listed.stdout
    revoked = cli(site, "users", "token", "--revoke", token_id)
    assert revoked.returncode == 0 and "Revoked 1 token(s)." in revoked.stdout, revoked.stderr
    assert site.api("GET", "/dags", auth=None, headers=bearer(token)).status_code == 401
    again = cli(site, "users", "token", "--revoke", token_id)
    assert again.returncode == 1 and "no token" in again.stderr
    bad = cli(site, "users", "token", "--revoke", "zz")
    assert bad.returncode == 1 and "token id" in bad.stderr


def test_tokens_expire(make_site: MakeSite) -> None:
    site = make_site(DOCKYARD_API_TOKEN_EXPIRE_DAYS="7")
    made = cli(site, "users", "token", "-u", ADMIN[0])
    (row,) = site.store.list_tokens(ADMIN[0])
    assert row.expires_at is not None
    assert dt.timedelta(days=6.9) < row.expires_at - row.created_at <= dt.timedelta(days=7)
    assert site.api("GET", "/dags", auth=None, headers=bearer(made.stdout.strip())).status_code == 200
    hours = cli(site, "users", "token", "-u", ADMIN[0], "--expires", "12h")
    assert hours.returncode == 0
    assert {t.expires_at - t.created_at for t in site.store.list_tokens(ADMIN[0])} >= {dt.timedelta(hours=12)}
    wrong = cli(site, "users", "token", "-u", ADMIN[0], "--expires", "soon")
    assert wrong.returncode == 1 and "90d, 12h, 30m or never" in wrong.stderr
    short = create_token(site.store, ADMIN[0], lifetime=dt.timedelta(seconds=1))
    assert site.api("GET", "/dags", auth=None, headers=bearer(short)).status_code == 200
    time.sleep(1.5)
    assert site.api("GET", "/dags", auth=None, headers=bearer(short)).status_code == 401


def test_failed_logins_are_throttled_per_account_and_per_address(make_site: MakeSite) -> None:
    site = make_site(DOCKYARD_LOGIN_MAX_FAILURES="3", DOCKYARD_LOGIN_MAX_FAILURES_PER_ADDRESS="6")
    codes = [site.api("GET", "/dags", auth=(ADMIN[0], "wrong-guess")).status_code for _ in range(4)]
    assert codes == [401, 401, 401, 429]
    locked = site.api("GET", "/dags", auth=ADMIN)  # even the right password waits
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) >= 1
    assert locked.json()["title"] == "Too Many Requests" and "too many failed logins" in locked.json()["detail"]
    # the login form answers the same way
    session = requests.Session()
    form = {"username": ADMIN[0], "password": ADMIN[1], "csrf": csrf_of(session, site.url), "next": "/"}
    page = session.post(site.url + "/login", data=form, timeout=30, allow_redirects=False)
    assert page.status_code == 429 and "too many failed logins" in page.text
    assert site.api("GET", "/dags", auth=VIEWER).status_code == 200  # other accounts are not locked
    # one address guessing many accounts is stopped too (3 failures so far, 6 allowed)
    codes = [site.api("GET", "/dags", auth=(f"user{i}", "wrong-guess")).status_code for i in range(4)]
    assert codes == [401, 401, 401, 429]


def test_a_throttled_account_works_again_after_the_window(make_site: MakeSite) -> None:
    site = make_site(DOCKYARD_LOGIN_MAX_FAILURES="1", DOCKYARD_LOGIN_LOCKOUT_SECONDS="3")
    assert site.api("GET", "/dags", auth=(ADMIN[0], "wrong-guess")).status_code == 401
    assert site.api("GET", "/dags", auth=ADMIN).status_code == 429
    time.sleep(3.2)
    assert site.api("GET", "/dags", auth=ADMIN).status_code == 200


def test_password_hashing_runs_at_most_the_configured_number_at_once(make_site: MakeSite) -> None:
    site = make_site(
        DOCKYARD_PASSWORD_HASH_CONCURRENCY="2",
        DOCKYARD_LOGIN_MAX_FAILURES="0",
        DOCKYARD_LOGIN_MAX_FAILURES_PER_ADDRESS="0",
    )
    codes: list[int] = []

    def hit(i: int) -> None:
        who = ADMIN if i % 2 else (f"nobody{i}", "not-a-user-123")
        codes.append(site.api("GET", "/version", auth=who).status_code)

    threads = [threading.Thread(target=hit, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sorted(codes) == [200] * 10 + [401] * 10
    guard = _app_guard(site)
    assert 1 <= guard.checker.peak <= 2


def _app_guard(site: SecureSite) -> object:
    """The running app's Guard (the server runs in this process)."""
    import gc

    from dockyard.web.security import Guard

    guards = [g for g in gc.get_objects() if isinstance(g, Guard) and g.settings is site.settings]
    assert len(guards) == 1
    return guards[0]


def test_logout_ends_the_session_on_the_server(make_site: MakeSite) -> None:
    site = make_site()
    session = site.login()
    assert session.get(site.url + "/variables", timeout=30, allow_redirects=False).status_code == 200
    stolen = requests.Session()
    stolen.cookies.update(session.cookies)  # a copy of the cookie, as an attacker would keep it
    assert stolen.get(site.url + "/variables", timeout=30, allow_redirects=False).status_code == 200
    csrf = csrf_of(session, site.url)
    assert session.post(site.url + "/logout", data={"csrf": csrf}, timeout=30, allow_redirects=False).status_code == 303
    replay = stolen.get(site.url + "/variables", timeout=30, allow_redirects=False)
    assert replay.status_code == 303 and replay.headers["location"].startswith("/login")
    assert stolen.get(site.url + "/api/v1/dags", timeout=30).status_code == 401


def test_a_deleted_user_loses_its_sessions(make_site: MakeSite) -> None:
    site = make_site()
    create_user(site.store, "erin", "erin-pass-123", "viewer")
    session = site.login(("erin", "erin-pass-123"))
    assert session.get(site.url + "/api/v1/dags", timeout=30).status_code == 200
    site.store.delete_user_and_credentials("erin")
    create_user(site.store, "erin", "erin-pass-456", "admin")
    assert session.get(site.url + "/api/v1/dags", timeout=30).status_code == 401


def test_the_session_cookie_is_secure_behind_https(make_site: MakeSite) -> None:
    plain = make_site()
    response = requests.get(plain.url + "/login", timeout=30)
    assert "secure" not in response.headers["set-cookie"].lower()
    site = make_site(DOCKYARD_BASE_URL="https://dockyard.example.com")
    assert site.settings.secure_cookies
    response = requests.get(site.url + "/login", timeout=30)
    assert "; secure" in response.headers["set-cookie"].lower()
    assert "httponly" in response.headers["set-cookie"].lower()
    off = make_site(DOCKYARD_BASE_URL="https://dockyard.example.com", DOCKYARD_SECURE_COOKIES="false")
    assert "secure" not in requests.get(off.url + "/login", timeout=30).headers["set-cookie"].lower()


def test_the_api_document_and_docs_need_a_login(make_site: MakeSite) -> None:
    site = make_site()
    assert requests.get(site.url + "/api/v1/openapi.json", timeout=30).status_code == 401
    docs = requests.get(site.url + "/api/v1/ui", timeout=30, allow_redirects=False)
    assert docs.status_code == 303 and docs.headers["location"].startswith("/login")
    assert requests.get(site.url + "/docs", timeout=30).status_code == 404
    assert site.api("GET", "/openapi.json", auth=VIEWER).json()["paths"]
    page = site.login(VIEWER).get(site.url + "/api/v1/ui", timeout=30)
    assert page.status_code == 200 and "/static/swagger-ui/swagger-ui-bundle.js" in page.text
    assert "cdn" not in page.text.lower() and "https://" not in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    bundle = requests.get(site.url + "/static/swagger-ui/swagger-ui-bundle.js", timeout=30)
    assert bundle.status_code == 200 and len(bundle.content) > 100_000
    assert requests.get(site.url + "/api/v1/health", timeout=30).status_code == 200


def test_basic_auth_header_garbage_is_a_401(make_site: MakeSite) -> None:
    site = make_site()
    for header in ("Basic !!!", "Basic " + base64.b64encode(b"\xff\xfe").decode(), "Bearer ", "Bearer dky_nope"):
        response = requests.get(site.url + "/api/v1/dags", headers={"Authorization": header}, timeout=30)
        assert response.status_code == 401, header


def test_users_created_before_uids_work_after_the_migration(make_site: MakeSite) -> None:
    site = make_site()
    row = site.store.get_user(ADMIN[0])
    assert isinstance(row, UserModel) and row.uid and len(row.uid) == 32
