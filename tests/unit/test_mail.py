"""Alert mails: Airflow's recipients parsing and subject, and a server that does not answer is one clear error
that names the server and the connection, never the password."""

from __future__ import annotations

import socket

import pytest

from dockyard.connections import Connection
from dockyard.mail import Alert, EmailError, compose, recipients, send


def test_recipients_and_the_alert_airflow_sends() -> None:
    assert recipients("a@x.org; b@x.org,c@x.org") == ["a@x.org", "b@x.org", "c@x.org"]
    assert recipients(["a@x.org", " "]) == ["a@x.org"] and recipients(None) == []
    alert = Alert("etl", "load", "manual__1", "failed", 2, 1, "exit code 3 <oops>", "http://h/log", "box")
    message = compose(alert, ["a@x.org"], "from@x.org")
    assert message["Subject"] == "Airflow alert: <TaskInstance: etl.load manual__1 [failed]>"
    html = message.get_body(("html",))
    assert html is not None and "Try 2 out of 2<br>Exception:<br>exit code 3 &lt;oops&gt;" in html.get_content()


def test_an_unreachable_server_is_one_error_without_the_password() -> None:
    with socket.socket() as probe:  # a port nothing listens on: the refusal is real
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    conn = Connection(
        conn_id="smtp_default",
        host="127.0.0.1",
        port=port,
        login="robot",
        password="pw-canary-4242",
        extra='{"disable_ssl": true}',
    )
    with pytest.raises(EmailError) as caught:
        send(conn, compose(Alert("d", "t", "r", "failed", 1, 0, "", "", "h"), ["a@x.org"], "f@x.org"))
    assert f"127.0.0.1:{port} (connection 'smtp_default')" in str(caught.value)
    assert "pw-canary-4242" not in str(caught.value)
