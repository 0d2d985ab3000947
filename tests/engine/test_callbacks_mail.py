"""Callbacks and alert mails as Airflow runs them: on_retry_callback, on_skipped_callback, the task's and the
DAG's on_failure_callback (in child processes, with the template context and the DAG's ``reason``), and
email_on_retry / email_on_failure through the ``smtp_default`` connection to a real SMTP server on loopback."""

from __future__ import annotations

import datetime as dt
import json
import socket
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import Message
from pathlib import Path
from typing import Any

import docker
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

from dockyard.scheduler import scheduler_running, trigger_run
from dockyard.settings import Settings
from dockyard.store import Store
from tests.helpers import wait_for, write_dag

pytestmark = pytest.mark.engine

PASSWORD = "mail-canary-5150"
START = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)


class Inbox:
    """An SMTP handler that keeps each message it is sent."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.envelopes: list[list[str]] = []
        """Each message's envelope recipients (Bcc is only there)."""

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        self.messages.append(message_from_bytes(envelope.original_content or b"", policy=policy.default))
        self.envelopes.append(list(envelope.rcpt_tos))
        return "250 OK"


def _authenticate(server: Any, session: Session, envelope: Envelope, mechanism: str, data: Any) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (b"robot", PASSWORD.encode())
    return AuthResult(success=ok, handled=False)


def smtp_connection(port: int) -> str:
    """``smtp_default`` for the loopback server: plain SMTP with a login, a sender in the extras."""
    extra = {"disable_ssl": True, "disable_tls": True, "from_email": "dockyard@example.com"}
    connection = {"conn_type": "smtp", "host": "127.0.0.1", "port": port, "login": "robot", "password": PASSWORD}
    return json.dumps({**connection, "extra": extra})


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, int]]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    handler = Inbox()
    controller = Controller(
        handler, hostname="127.0.0.1", port=port, authenticator=_authenticate, auth_require_tls=False
    )
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


def test_callbacks_and_alert_mails(
    tmp_path: Path, engine: docker.APIClient, inbox: tuple[Inbox, int], caplog: pytest.LogCaptureFixture
) -> None:
    mailbox, port = inbox
    calls = tmp_path / "calls.txt"
    write_dag(
        tmp_path / "dags",
        "alerts",
        f"""
def note(what):
    def callback(context):
        with open({str(calls)!r}, "a") as handle:
            handle.write(" ".join([what, context["ti"].task_id, context["dag_run"].run_id, context["ds"],
                                   str(context.get("reason", "-")), type(context.get("exception")).__name__]) + "\\n")
    return callback

ALERTS = {{**ARGS, "email": "ops@example.com; oncall@example.com", "retries": 1, "retry_delay": 0}}
with DAG("alerts", start_date=START, schedule=None, default_args=ALERTS,
         on_success_callback=note("dag-success"), on_failure_callback=note("dag-failure")) as dag:
    DockerOperator(task_id="flaky", command="false", on_retry_callback=note("retry"),
                   on_failure_callback=note("failure"))
    DockerOperator(task_id="skipper", command=["sh", "-c", "exit 99"], skip_on_exit_code=99,
                   on_skipped_callback=note("skipped"))
    DockerOperator(task_id="quiet", command="false", retries=0, email_on_failure=False)
""",
    )
    settings = Settings.from_env(
        {
            "DOCKYARD_HOME": str(tmp_path / "home"),
            "DOCKYARD_DAGS_FOLDER": str(tmp_path / "dags"),
            "AIRFLOW_CONN_SMTP_DEFAULT": smtp_connection(port),
        }
    )
    store = Store.open(settings)
    try:
        with scheduler_running(settings, store) as scheduler:
            run = trigger_run(settings, store, scheduler.dags["alerts"], logical_date=START)
            wait_for(lambda: store.get_run("alerts", run.run_id).state == "failed", 90, "the run to fail")
            wait_for(lambda: calls.exists() and len(calls.read_text().splitlines()) >= 4, 60, "the callbacks")
            wait_for(lambda: len(mailbox.messages) >= 2, 60, "two alert mails")
    finally:
        store.close()
    day, rid = "2024-01-01", run.run_id
    assert sorted(calls.read_text().splitlines()) == sorted(
        [
            f"retry flaky {rid} {day} - DockyardError",
            f"failure flaky {rid} {day} - DockyardError",
            f"skipped skipper {rid} {day} - NoneType",
            f"dag-failure {_last_failed(store, rid)} {rid} {day} task_failure NoneType",
        ]
    )
    subjects = sorted(m["Subject"] for m in mailbox.messages)
    assert subjects == [
        f"Airflow alert: <TaskInstance: alerts.flaky {rid} [failed]>",
        f"Airflow alert: <TaskInstance: alerts.flaky {rid} [up_for_retry]>",
    ]  # not for skipper (skipped) nor quiet (email_on_failure=False)
    first = next(m for m in mailbox.messages if "up_for_retry" in m["Subject"])
    assert first["From"] == "dockyard@example.com" and first["To"] == "ops@example.com, oncall@example.com"
    text = next(part for part in first.walk() if part.get_content_type() == "text/plain").get_payload(decode=True)
    assert b"Try 1 out of 2" in text and b"/dags/alerts/runs/" in text
    assert PASSWORD not in caplog.text


def _last_failed(store: Store, run_id: str) -> str:
    """The task instance Airflow gives a DAG's failure callback: the run's last failed one."""
    failed = [ti for ti in store.list_task_instances("alerts", run_id) if ti.state == "failed"]
    return max(failed, key=lambda ti: ti.end_date).task_id  # type: ignore[arg-type, return-value]
