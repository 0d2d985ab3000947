"""The connection form's reading: each type keeps its own fields, typed extras go into extra, an edit keeps
the stored password and each masked extra value, and every bad value is one clear error."""

from __future__ import annotations

import pytest

from dockyard.connections import Connection
from dockyard.errors import DockyardError
from dockyard.web.connection_forms import check_message, read_connection_form, shown_extras


def test_a_docker_form_gives_a_docker_connection() -> None:
    form = {
        "conn_id": "reg",
        "conn_type": "docker",
        "host": "r.example.com",
        "port": "5000",
        "schema": "ignored: docker has no schema",
        "login": "robot",
        "password": "pw",
        "x_email": "ci@example.com",
        "x_reauth": "on",
        "extra": '{"note": 1}',
    }
    conn = read_connection_form(form, stored=None)
    assert (conn.conn_type, conn.host, conn.port, conn.schema, conn.password) == (
        "docker",
        "r.example.com",
        5000,
        None,
        "pw",
    )
    assert conn.extra_dejson == {"note": 1, "email": "ci@example.com", "reauth": True}
    assert check_message(conn) == "Connection reg (docker) is well-formed."


def test_an_edit_keeps_the_password_and_masked_extras() -> None:
    stored = Connection("mail", conn_type="smtp", host="h", password="old", extra='{"api_token": "t0k", "timeout": 5}')
    typed, rest = shown_extras(stored)
    assert typed == {"timeout": 5} and "t0k" not in rest and '"***"' in rest
    form = {"conn_id": "mail", "conn_type": "smtp", "host": "h2", "password": "", "extra": rest, "x_timeout": "9"}
    conn = read_connection_form(form, stored=stored)
    assert conn.password == "old" and conn.host == "h2"
    assert conn.extra_dejson == {"api_token": "t0k", "timeout": 9, "disable_ssl": False, "disable_tls": False}


@pytest.mark.parametrize(
    ("form", "words"),
    [
        ({"conn_id": ""}, "give the connection an id"),
        ({"conn_id": "c", "port": "eighty"}, "port 'eighty' is not a number"),
        ({"conn_id": "c", "extra": "{"}, "extra is not valid JSON"),
        ({"conn_id": "c", "extra": "[1]"}, "extra must be a JSON object"),
        ({"conn_id": "c", "conn_type": "smtp", "x_timeout": "soon"}, "timeout 'soon' is not a number"),
        ({"conn_id": "c", "conn_type": "postgres", "x_sslmode": "maybe"}, "sslmode 'maybe' is not one of disable"),
    ],
)
def test_bad_values_are_named(form: dict[str, str], words: str) -> None:
    with pytest.raises(DockyardError, match=words):
        read_connection_form(form, stored=None)


def test_a_uri_flag_shows_as_a_switch() -> None:
    stored = Connection.from_uri("reg", "docker://robot:pw@r.example.com?reauth=no&email=a%40b.c")
    typed, rest = shown_extras(stored)
    assert typed == {"reauth": False, "email": "a@b.c"} and rest == "{}"
