"""``EmailOperator``'s work in the scheduler: send the mail its try decided, through its SMTP connection.

The operator's templated fields were rendered in the preparation child; the mail comes back as the try's
result (:meth:`~dockyard.operators.orchestration.EmailOperator.run_in_scheduler`). This runs in the
scheduler's worker thread, so a slow server holds a thread, never the scheduling loop. The message is the
one Airflow's ``send_email`` builds: a ``multipart/<mime_subtype>`` with one HTML part in ``mime_charset``,
``To`` and ``Cc`` headers, ``Bcc`` recipients on the envelope only. Airflow's task returns nothing, so the
XCom is None. A missing connection or a failing server fails the task with the reason (never the password).
"""

from __future__ import annotations

from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formatdate
from typing import Any

from dockyard.connections import Connections
from dockyard.errors import DockyardError, TaskError
from dockyard.execution import TryOutcome
from dockyard.mail import send, sender_of
from dockyard.states import TaskState


def compose_mail(plan: dict[str, Any], sender: str) -> MIMEMultipart:
    """The message Airflow's ``send_email`` builds from the operator's rendered arguments."""
    message = MIMEMultipart(str(plan.get("mime_subtype") or "mixed"))
    message["Subject"] = str(plan.get("subject") or "")
    message["From"] = sender
    message["To"] = ", ".join(plan.get("to") or [])
    if plan.get("cc"):
        message["CC"] = ", ".join(plan["cc"])
    message["Date"] = formatdate(localtime=True)
    for name, value in (plan.get("custom_headers") or {}).items():
        message[name] = value
    message.attach(MIMEText(str(plan.get("html_content") or ""), "html", str(plan.get("mime_charset") or "utf-8")))
    return message


def send_email_task(connections: Connections, outcome: TryOutcome) -> TryOutcome:
    """Send the mail in ``outcome.xcom``; the outcome says how the task ended."""
    plan: dict[str, Any] = dict(outcome.xcom or {})
    conn_id = str(plan.get("conn_id") or "smtp_default")
    everyone = [*plan.get("to", []), *plan.get("cc", []), *plan.get("bcc", [])]
    try:
        conn = connections.find(conn_id)
        if conn is None:
            raise TaskError(
                f"EmailOperator: there is no connection {conn_id!r} to send the mail through; add it with "
                f"`dockyard connections add {conn_id} --conn-uri smtp://USER:PASSWORD@HOST:PORT` or "
                f"AIRFLOW_CONN_{conn_id.upper()}"
            )
        message = compose_mail(plan, str(plan.get("from_email") or sender_of(conn)))
        send(conn, message, to_addrs=everyone, what=f"the mail {plan.get('subject')!r}")
        outcome.state, outcome.xcom = TaskState.SUCCESS, None
        said = f"Sent email {plan.get('subject')!r} to {', '.join(everyone)}"
    except DockyardError as exc:
        said = outcome.fail(exc)
    outcome.say(said)
    return outcome
