"""``email_on_failure`` / ``email_on_retry``: Airflow's alert mail, sent through the SMTP connection.

A task with ``email`` set gets a mail when a try fails for good (``email_on_failure``, default on) or fails
with a retry left (``email_on_retry``, default on), as in Airflow: subject ``Airflow alert: <TaskInstance:
dag.task run_id [failed]>``, a body with the try, the error, the log link and the host.

The server is the connection ``smtp_default`` (Airflow's ``[email] email_conn_id``): host, port (default 25),
login and password, and the SMTP provider's extras ``from_email``, ``disable_ssl`` (SSL unless set, as the
provider does), ``disable_tls`` (STARTTLS unless set) and ``timeout``. Where the connection does not exist,
no mail is sent and the scheduler's log says so once per task. The password never appears in a message.

Example::

    AIRFLOW_CONN_SMTP_DEFAULT='smtp://robot:secret@mail.example.com:587?disable_ssl=true'
"""

from __future__ import annotations

import html
import logging
import smtplib
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from email.message import EmailMessage, Message
from typing import TYPE_CHECKING
from urllib.parse import quote

from dockyard import defaults
from dockyard.errors import DockyardError
from dockyard.states import TaskState

if TYPE_CHECKING:
    from dockyard.connections import Connection, Connections
    from dockyard.serialized import SerializedTask

log = logging.getLogger(__name__)

EMAIL_CONN_ID = "smtp_default"
"""The connection alert mails go through (Airflow's default ``email_conn_id``)."""


class EmailError(DockyardError):
    """An alert mail could not be sent (the message names the server, never the password)."""


@dataclass(frozen=True)
class Alert:
    """What one alert mail says."""

    dag_id: str
    task_id: str
    run_id: str
    state: str
    """``failed`` or ``up_for_retry``."""
    try_number: int
    max_tries: int
    error: str
    log_url: str
    hostname: str


def recipients(email: str | Iterable[str] | None) -> list[str]:
    """Airflow's ``email`` argument as addresses: a string may list several, split by ``,`` or ``;``."""
    if not email:
        return []
    items = [email] if isinstance(email, str) else list(email)
    found: list[str] = []
    for item in items:
        for part in str(item).replace(";", ",").split(","):
            if part.strip():
                found.append(part.strip())
    return found


def compose(alert: Alert, to: list[str], sender: str) -> EmailMessage:
    """Airflow's default alert: the subject names the task instance and its state; the body is HTML."""
    message = EmailMessage()
    message["Subject"] = f"Airflow alert: <TaskInstance: {alert.dag_id}.{alert.task_id} {alert.run_id} [{alert.state}]>"
    message["From"] = sender
    message["To"] = ", ".join(to)
    error = html.escape(alert.error or "").replace("\n", "<br>")
    link = html.escape(alert.log_url, quote=True)
    message.set_content(
        f"Try {alert.try_number} out of {alert.max_tries + 1}\nException:\n{alert.error}\nLog: {alert.log_url}\n"
        f"Host: {alert.hostname}\n"
    )
    message.add_alternative(
        f"Try {alert.try_number} out of {alert.max_tries + 1}<br>Exception:<br>{error}<br>"
        f'Log: <a href="{link}">Link</a><br>Host: {html.escape(alert.hostname)}<br>',
        subtype="html",
    )
    return message


def send(
    conn: Connection, message: Message, *, to_addrs: list[str] | None = None, what: str = "the alert mail"
) -> None:
    """Send ``message`` through the SMTP server of ``conn`` to ``to_addrs`` (by default its To, Cc and Bcc);
    errors become :class:`EmailError` naming ``what`` was being sent."""
    extra = conn.extra_dejson
    use_ssl = not _flag(extra.get("disable_ssl"))
    use_tls = not _flag(extra.get("disable_tls"))
    host = conn.host or "localhost"
    port = conn.port or (465 if use_ssl else 25)
    timeout = float(extra.get("timeout") or defaults.DEFAULT_SMTP_TIMEOUT_SECONDS)
    where = f"the SMTP server {host}:{port} (connection {conn.conn_id!r})"
    try:
        client: smtplib.SMTP
        if use_ssl:
            client = smtplib.SMTP_SSL(host, port, timeout=timeout, context=ssl.create_default_context())
        else:
            client = smtplib.SMTP(host, port, timeout=timeout)
        with client:
            if not use_ssl and use_tls:
                client.starttls(context=ssl.create_default_context())
            if conn.login:
                client.login(conn.login, conn.password or "")
            client.send_message(message, to_addrs=to_addrs)
    except (OSError, smtplib.SMTPException) as exc:
        detail = str(exc).replace(conn.password, "***") if conn.password else str(exc)
        raise EmailError(
            f"cannot send {what} through {where}: {type(exc).__name__}: {detail}; check its host, port, "
            "login and the extras disable_ssl / disable_tls"
        ) from None


def sender_of(conn: Connection) -> str:
    return str(conn.extra_dejson.get("from_email") or defaults.DEFAULT_EMAIL_FROM)


def _flag(value: object) -> bool:
    return value is True or str(value).strip().lower() in ("true", "1", "yes")


class AlertMailer:
    """Decides and sends a task's alert mails for the scheduler (sending runs off the scheduling loop)."""

    def __init__(self, connections: Connections, base_url: str) -> None:
        self.connections = connections
        self.base_url = base_url
        self._warned: set[str] = set()

    @staticmethod
    def due(task: SerializedTask, state: TaskState, retrying: bool) -> str | None:
        """The state an alert reports (``up_for_retry``, ``failed``), or None when no mail is due."""
        if not task.email or state is not TaskState.FAILED:
            return None
        if retrying:
            return TaskState.UP_FOR_RETRY.value if task.email_on_retry else None
        return TaskState.FAILED.value if task.email_on_failure else None

    def alert(self, alert: Alert, to: list[str]) -> None:
        """Send one alert; a missing connection or a failing server is logged, never raised."""
        conn = self.connections.find(EMAIL_CONN_ID)
        if conn is None:
            if alert.dag_id + alert.task_id not in self._warned:
                self._warned.add(alert.dag_id + alert.task_id)
                log.warning(
                    "task %s.%s asks for alert mails (email=%s) but there is no connection %r: "
                    "`dockyard connections add %s --conn-uri smtp://USER:PASSWORD@HOST:PORT`",
                    alert.dag_id,
                    alert.task_id,
                    ", ".join(to),
                    EMAIL_CONN_ID,
                    EMAIL_CONN_ID,
                )
            return
        try:
            send(conn, compose(alert, to, sender_of(conn)))
        except DockyardError as exc:
            log.error("alert mail for %s.%s: %s", alert.dag_id, alert.task_id, exc)
            return
        log.info("alert mail (%s) for %s.%s sent to %s", alert.state, alert.dag_id, alert.task_id, ", ".join(to))

    def log_url(self, dag_id: str, run_id: str, task_id: str, try_number: int) -> str:
        return f"{self.base_url}/dags/{dag_id}/runs/{quote(run_id, safe='')}/tasks/{task_id}?try_number={try_number}"
