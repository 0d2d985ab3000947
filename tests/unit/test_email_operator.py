"""``EmailOperator`` as Airflow's: its arguments, its import paths, the plan its try hands the scheduler, the
message Airflow's ``send_email`` builds (Bcc on the envelope only), and ``files`` refused with the reason."""

from __future__ import annotations

import subprocess
import sys

import pytest

from dockyard.errors import DagDefinitionError
from dockyard.mail_task import compose_mail
from dockyard.operators.orchestration import EmailOperator
from dockyard.serialized import serialize_dag
from tests.helpers import make_dag


def test_arguments_defaults_and_the_plan_for_the_scheduler() -> None:
    with make_dag() as dag:
        mail = EmailOperator(
            task_id="mail",
            to="a@x.org; b@x.org",
            subject="Report {{ ds }}",
            html_content="<b>{{ ds }}</b>",
            cc=["c@x.org"],
            bcc="d@x.org,e@x.org",
        )
    assert mail.template_fields == ("to", "subject", "html_content", "files")
    assert mail.template_ext == (".html",)
    assert mail.conn_id == "smtp_default" and mail.mime_subtype == "mixed" and mail.mime_charset == "utf-8"
    task = serialize_dag(dag).task("mail")
    assert not task.runs_container and task.flow == {"kind": "email"}
    rendered = {"to": "a@x.org; b@x.org", "subject": "Report 2024-01-01", "html_content": "<b>2024-01-01</b>"}
    plan = mail.run_in_scheduler({}, rendered)
    assert plan["to"] == ["a@x.org", "b@x.org"] and plan["cc"] == ["c@x.org"]
    assert plan["bcc"] == ["d@x.org", "e@x.org"] and plan["conn_id"] == "smtp_default"
    assert plan["subject"] == "Report 2024-01-01" and plan["html_content"] == "<b>2024-01-01</b>"


def test_the_message_is_the_one_airflow_builds() -> None:
    plan = {
        "to": ["a@x.org"],
        "cc": ["c@x.org"],
        "bcc": ["d@x.org"],
        "subject": "Hi",
        "html_content": "<p>hé</p>",
        "mime_subtype": "alternative",
        "mime_charset": "utf-8",
        "custom_headers": {"X-Job": "7"},
    }
    message = compose_mail(plan, "robot@x.org")
    assert message.get_content_type() == "multipart/alternative"
    headers = (message["To"], message["CC"], message["From"], message["X-Job"])
    assert headers == ("a@x.org", "c@x.org", "robot@x.org", "7")
    assert message["Bcc"] is None and message["Date"]
    (part,) = message.get_payload()  # type: ignore[misc]
    assert part.get_content_type() == "text/html" and part.get_payload(decode=True).decode() == "<p>hé</p>"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"files": ["/tmp/report.csv"]}, r"files=\['/tmp/report.csv'\] are not supported: .* link to the files"),
        ({"to": None}, r"'mail': to must be an address or a list of addresses, got None"),
        ({"subject": 3}, r"subject must be a string, got int"),
        ({"mime_subtype": "plain"}, r"mime_subtype 'plain' is not a multipart subtype; use mixed, alternative"),
        ({"custom_headers": ["X"]}, r"custom_headers must be a dict, got list"),
    ],
)
def test_bad_arguments_are_one_clear_error(kwargs: dict[str, object], match: str) -> None:
    arguments: dict[str, object] = {"to": "a@x.org", "subject": "s", "html_content": "h", **kwargs}
    with make_dag(), pytest.raises(DagDefinitionError, match=match):
        EmailOperator(task_id="mail", **arguments)  # type: ignore[arg-type]


def test_a_to_that_renders_to_nothing_fails_the_try() -> None:
    with make_dag():
        mail = EmailOperator(task_id="mail", to="{{ params.who }}", subject="s", html_content="h")
    with pytest.raises(DagDefinitionError, match="to rendered to no address"):
        mail.run_in_scheduler({}, {"to": " ", "subject": "s", "html_content": "h"})


def test_airflow_import_paths() -> None:
    script = """
from dockyard.compat import airflow; airflow.install()
from airflow.operators.email import EmailOperator
from airflow.operators.email_operator import EmailOperator as Old
from airflow.providers.smtp.operators.smtp import EmailOperator as Provider
from dockyard.operators.orchestration import EmailOperator as Ours
assert EmailOperator is Old is Provider is Ours
"""
    subprocess.run([sys.executable, "-c", script], check=True)
