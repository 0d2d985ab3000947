"""Connections in Airflow's URI and JSON forms, from the environment, and encrypted at rest."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from hypothesis import given
from hypothesis import strategies as st

from dockyard.connections import Connection, decrypt, encrypt, from_environment, load_fernet, parse_bool
from dockyard.errors import ConfigError, InvalidConnectionError


def test_a_docker_uri() -> None:
    conn = Connection.from_uri(
        "reg", "docker://robot%40ci:p%40ss%2Fw0rd@registry.example.com:5000?email=ci%40example.com&reauth=false"
    )
    assert (conn.conn_type, conn.host, conn.port, conn.login, conn.password) == (
        "docker",
        "registry.example.com",
        5000,
        "robot@ci",
        "p@ss/w0rd",
    )
    assert conn.extra_dejson == {"email": "ci@example.com", "reauth": "false"}
    assert Connection.from_uri("reg", conn.get_uri()) == conn


def test_extra_that_is_not_flat_strings_travels_as_json() -> None:
    conn = Connection(conn_id="x", conn_type="docker", host="h", extra=json.dumps({"n": 1, "nested": {"a": [1]}}))
    uri = conn.get_uri()
    assert "__extra__=" in uri
    assert Connection.from_uri("x", uri).extra_dejson == {"n": 1, "nested": {"a": [1]}}


def test_host_with_a_protocol_and_schema() -> None:
    conn = Connection.from_uri("e", "docker://https://engine.example.com:2376/db")
    assert (conn.host, conn.port, conn.schema) == ("https://engine.example.com", 2376, "db")
    assert Connection.from_uri("e", conn.get_uri()) == conn


printable = st.text(st.characters(min_codepoint=33, max_codepoint=0x2FF), min_size=1, max_size=20)


@given(
    login=printable,
    password=printable,
    host=st.from_regex(r"[a-z][a-z0-9.\-]{0,20}", fullmatch=True),
    port=st.one_of(st.none(), st.integers(1, 65535)),
    email=printable,
)
def test_get_uri_round_trips(login: str, password: str, host: str, port: int | None, email: str) -> None:
    conn = Connection(
        conn_id="c",
        conn_type="docker",
        host=host,
        login=login,
        password=password,
        port=port,
        extra=json.dumps({"email": email}),
    )
    assert Connection.from_uri("c", conn.get_uri()) == conn


def test_a_google_json_key_as_password() -> None:
    key = json.dumps(
        {"type": "service_account", "private_key": "-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n"}
    )
    conn = Connection(conn_id="gcr", conn_type="docker", host="europe-docker.pkg.dev", login="_json_key", password=key)
    assert Connection.from_uri("gcr", conn.get_uri()).password == key


@pytest.mark.parametrize(
    ("uri", "reason"),
    [
        ("registry.example.com", "has no scheme"),
        ("://host", "empty conn_type"),
        ("a://b://c://d", "more than two"),
        ("docker://h:notaport", "cannot be parsed"),
        ("docker://user@h://x", "is not followed by a host"),
    ],
)
def test_malformed_uris_name_the_connection(uri: str, reason: str) -> None:
    with pytest.raises(InvalidConnectionError) as info:
        Connection.from_uri("broken", uri)
    assert "connection 'broken'" in str(info.value) and reason in str(info.value)
    assert "docker://login:password@" in str(info.value)


def test_the_json_form() -> None:
    conn = Connection.parse(
        "j",
        '{"conn_type": "docker", "host": "r:1", "login": "u", "password": "p", "port": "5000", '
        '"extra": {"email": "e"}}',
    )
    assert (conn.port, conn.extra_dejson) == (5000, {"email": "e"})
    with pytest.raises(InvalidConnectionError, match="unknown field\\(s\\) hostname"):
        Connection.parse("j", '{"hostname": "x"}')
    with pytest.raises(InvalidConnectionError, match="not valid JSON"):
        Connection.parse("j", "{nope")
    with pytest.raises(InvalidConnectionError, match="extra must be a JSON object"):
        Connection(conn_id="j", extra="[1]").extra_dejson  # noqa: B018


def test_environment_variables_win_and_both_prefixes_work() -> None:
    env = {"AIRFLOW_CONN_REG": "docker://a:b@h", "DOCKYARD_CONN_OTHER": '{"conn_type": "docker", "host": "o"}'}
    assert from_environment("reg", env).login == "a"  # type: ignore[union-attr]
    assert from_environment("other", env).host == "o"  # type: ignore[union-attr]
    assert from_environment("missing", env) is None


@pytest.mark.parametrize(
    ("value", "expected"), [("true", True), ("Yes", True), ("0", False), ("off", False), (None, True), (False, False)]
)
def test_truthy_strings(value: object, expected: bool) -> None:
    assert parse_bool("reauth", value, True) is expected


def test_anything_else_is_not_a_boolean() -> None:
    with pytest.raises(InvalidConnectionError, match="reauth='maybe' is not a boolean"):
        parse_bool("reauth", "maybe", True)


def test_a_key_file_is_created_once_with_mode_0600(tmp_path: Path) -> None:
    first = load_fernet(tmp_path, None)
    assert (tmp_path / "fernet.key").stat().st_mode & 0o777 == 0o600
    token = encrypt(first, "hunter2-secret")
    assert token is not None and "hunter2" not in token
    assert decrypt(load_fernet(tmp_path, None), token, conn_id="c", what="password") == "hunter2-secret"


def test_a_wrong_key_is_one_clear_error(tmp_path: Path) -> None:
    token = encrypt(load_fernet(tmp_path, Fernet.generate_key().decode()), "s")
    with pytest.raises(
        InvalidConnectionError, match="cannot decrypt the password of connection 'reg'.*DOCKYARD_FERNET_KEY"
    ):
        decrypt(load_fernet(tmp_path, Fernet.generate_key().decode()), token, conn_id="reg", what="password")
    with pytest.raises(ConfigError, match="is not a Fernet key"):
        load_fernet(tmp_path, "short")
