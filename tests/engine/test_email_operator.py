"""``EmailOperator`` in an Airflow DAG file, run by the scheduler without a container: the rendered mail
reaches a real SMTP server on loopback through ``smtp_default`` (Bcc on the envelope only, the body from a
``.html`` template next to the DAG file), and a mail through a connection that does not exist fails only
its task, with the reason in its log."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import docker
import pytest

from dockyard.scheduler import scheduler_running, trigger_run
from dockyard.settings import Settings
from dockyard.store import Store
from tests.engine.test_callbacks_mail import PASSWORD, Inbox, inbox, smtp_connection
from tests.helpers import wait_for

pytestmark = pytest.mark.engine
__all__ = ["inbox"]  # the fixture, shared with the alert mail test

WHEN = dt.datetime(2024, 3, 1, tzinfo=dt.timezone.utc)

DAG_FILE = """
from datetime import datetime
from airflow import DAG
from airflow.operators.email import EmailOperator
from airflow.providers.smtp.operators.smtp import EmailOperator as SmtpEmailOperator

with DAG("mailer", start_date=datetime(2024, 1, 1), schedule=None, params={"team": "data"}) as dag:
    report = EmailOperator(
        task_id="report",
        to=["{{ params.team }}@example.com", "boss@example.com"],
        cc="cc@example.com",
        bcc="audit@example.com",
        subject="Daily report {{ ds }} for {{ params.team }}",
        html_content="report.html",
    )
    nowhere = SmtpEmailOperator(task_id="nowhere", conn_id="smtp_missing", to="x@example.com", subject="s",
                                html_content="never sent")
    report >> nowhere
"""


def test_email_operator_sends_the_rendered_mail(
    tmp_path: Path, engine: docker.APIClient, inbox: tuple[Inbox, int]
) -> None:
    mailbox, port = inbox
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "mailer.py").write_text(DAG_FILE)
    (dags / "report.html").write_text("<h1>Rows for {{ ds_nodash }}</h1><p>run {{ run_id }}</p>")
    settings = Settings.from_env(
        {
            "DOCKYARD_HOME": str(tmp_path / "home"),
            "DOCKYARD_DAGS_FOLDER": str(dags),
            "AIRFLOW_CONN_SMTP_DEFAULT": smtp_connection(port),
        }
    )
    store = Store.open(settings)
    try:
        with scheduler_running(settings, store) as scheduler:
            run = trigger_run(settings, store, scheduler.dags["mailer"], logical_date=WHEN)
            wait_for(lambda: store.get_run("mailer", run.run_id).state in ("success", "failed"), 90, "the run")
        states = {ti.task_id: ti.state for ti in store.list_task_instances("mailer", run.run_id)}
        report = store.get_task_instance("mailer", run.run_id, "report")
        nowhere = store.get_task_instance("mailer", run.run_id, "nowhere")
        assert store.get_xcom("mailer", run.run_id, "report") is None  # Airflow's operator returns nothing
    finally:
        store.close()
    assert states == {"report": "success", "nowhere": "failed"}
    assert len(mailbox.messages) == 1
    mail = mailbox.messages[0]
    assert mail["Subject"] == "Daily report 2024-03-01 for data"
    assert (mail["From"], mail["To"], mail["CC"]) == (
        "dockyard@example.com",
        "data@example.com, boss@example.com",
        "cc@example.com",
    )
    assert mail["Bcc"] is None and mail.get_content_type() == "multipart/mixed"
    assert sorted(mailbox.envelopes[0]) == sorted(
        ["data@example.com", "boss@example.com", "cc@example.com", "audit@example.com"]
    )
    html = next(part for part in mail.walk() if part.get_content_type() == "text/html")
    assert html.get_payload(decode=True).decode() == f"<h1>Rows for 20240301</h1><p>run {run.run_id}</p>"
    assert report.rendered is not None and report.rendered["subject"] == "Daily report 2024-03-01 for data"
    assert nowhere.end_date is not None
    log = next((settings.logs_folder / "dag_id=mailer").rglob("task_id=nowhere/attempt=1.log")).read_text()
    assert "there is no connection 'smtp_missing' to send the mail through" in log
    assert PASSWORD not in log
