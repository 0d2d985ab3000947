"""Operators that run no user code and so run in the scheduler, without a container:
``LatestOnlyOperator``, ``TriggerDagRunOperator`` and ``EmailOperator`` (``EmptyOperator`` lives in :mod:`.base`).

Their templated fields are rendered like any task's (in the preparation child that imports the DAG file),
then :meth:`SchedulerOperator.run_in_scheduler` decides from the rendered values and the context; what it
returns is the try's result. ``LatestOnlyOperator``'s result is the branch it follows (the scheduler skips
the rest, see :mod:`dockyard.branching`); ``TriggerDagRunOperator``'s is the run to create, which the
scheduler creates (and waits for, with ``wait_for_completion``) in :mod:`dockyard.triggering`;
``EmailOperator``'s is the rendered mail, which the scheduler sends through the SMTP connection in
:mod:`dockyard.mail_task`.

Example::

    latest = LatestOnlyOperator(task_id="latest_only")
    notify = TriggerDagRunOperator(task_id="notify", trigger_dag_id="reports", conf={"day": "{{ ds }}"},
                                   wait_for_completion=True, poke_interval=5)
    latest >> notify
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import pendulum

from dockyard.errors import DagDefinitionError
from dockyard.operators.base import BaseOperator


class SchedulerOperator(BaseOperator):
    """An operator whose try the scheduler finishes itself (no container, no user code)."""

    runs_in_container: ClassVar[bool] = False

    def run_in_scheduler(self, context: Mapping[str, Any], rendered: Mapping[str, Any]) -> Any:
        """The try's result, from the context and the rendered templated fields."""
        raise NotImplementedError


class LatestOnlyOperator(SchedulerOperator):
    """Airflow's ``LatestOnlyOperator``: the tasks after it run only in the latest scheduled run (and in
    every manual run); in older runs its direct downstream tasks are skipped."""

    ui_color = "#e9ffdb"
    needs_result = True

    def flow_facts(self) -> dict[str, Any]:
        return {"kind": "branch", "groups": {}}

    def run_in_scheduler(self, context: Mapping[str, Any], rendered: Mapping[str, Any]) -> Any:
        from dockyard.timetable import DataInterval, timetable_for

        follow_all = sorted(self.downstream_task_ids)
        dag_run = context.get("dag_run")
        if getattr(dag_run, "external_trigger", False):
            return follow_all  # a manual run is always the latest
        dag = context["dag"]
        start, end = context["data_interval_start"], context["data_interval_end"]
        table = timetable_for(dag.schedule, dag.start_date)
        following = table.next_interval(
            after=DataInterval(start, end),
            start_date=dag.start_date,
            end_date=None,
            catchup=True,
            now=dt.datetime(9999, 1, 1, tzinfo=dt.timezone.utc),
        )
        if following is None:
            return follow_all
        now = pendulum.now("UTC")
        return follow_all if following.start < now <= following.end else []


class TriggerDagRunOperator(SchedulerOperator):
    """Airflow's ``TriggerDagRunOperator``: start a run of another DAG (with ``conf``), optionally waiting
    until it ends in one of ``allowed_states`` (success) or ``failed_states`` (failure)."""

    template_fields: ClassVar[Sequence[str]] = ("trigger_dag_id", "trigger_run_id", "logical_date", "conf")
    ui_color = "#ffefeb"

    def __init__(
        self,
        *,
        trigger_dag_id: str,
        trigger_run_id: str | None = None,
        conf: dict[str, Any] | None = None,
        logical_date: str | dt.datetime | None = None,
        execution_date: str | dt.datetime | None = None,
        reset_dag_run: bool = False,
        wait_for_completion: bool = False,
        poke_interval: float = 60,
        allowed_states: list[str] | None = None,
        failed_states: list[str] | None = None,
        skip_when_already_exists: bool = False,
        deferrable: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not isinstance(trigger_dag_id, str) or not trigger_dag_id:
            raise DagDefinitionError(f"task {self.task_id!r}: trigger_dag_id must be a dag_id, got {trigger_dag_id!r}")
        if conf is not None and not isinstance(conf, dict):
            raise DagDefinitionError(f"task {self.task_id!r}: conf must be a dict, got {type(conf).__name__}")
        self.trigger_dag_id = trigger_dag_id
        self.trigger_run_id = trigger_run_id
        self.conf = conf
        self.logical_date = logical_date if logical_date is not None else execution_date
        self.reset_dag_run = reset_dag_run
        self.wait_for_completion = wait_for_completion
        self.poke_interval = float(poke_interval)
        self.allowed_states = [str(s) for s in allowed_states or ["success"]]
        self.failed_states = [str(s) for s in failed_states or ["failed"]]
        self.skip_when_already_exists = skip_when_already_exists
        known = {"queued", "running", "success", "failed"}
        for name, states in (("allowed_states", self.allowed_states), ("failed_states", self.failed_states)):
            bad = sorted(set(states) - known)
            if bad:
                raise DagDefinitionError(
                    f"task {self.task_id!r}: {name} {bad} are not run states; use {', '.join(sorted(known))}"
                )

    def flow_facts(self) -> dict[str, Any]:
        return {"kind": "trigger_dag_run"}

    def run_in_scheduler(self, context: Mapping[str, Any], rendered: Mapping[str, Any]) -> Any:
        when = rendered.get("logical_date", self.logical_date)
        if isinstance(when, dt.datetime):
            when = when.isoformat()
        conf = rendered.get("conf", self.conf)
        if conf is not None and not isinstance(conf, dict):
            raise DagDefinitionError(f"task {self.task_id!r}: conf must render to a dict, got {conf!r}")
        return {
            "trigger_dag_id": str(rendered.get("trigger_dag_id", self.trigger_dag_id)),
            "trigger_run_id": rendered.get("trigger_run_id", self.trigger_run_id) or None,
            "conf": conf or {},
            "logical_date": str(when) if when else None,
            "reset_dag_run": self.reset_dag_run,
            "wait_for_completion": self.wait_for_completion,
            "poke_interval": self.poke_interval,
            "allowed_states": self.allowed_states,
            "failed_states": self.failed_states,
            "skip_when_already_exists": self.skip_when_already_exists,
        }


class EmailOperator(SchedulerOperator):
    """Airflow's ``EmailOperator``: one HTML mail through the SMTP connection ``conn_id`` (``smtp_default``).

    ``to``, ``subject`` and ``html_content`` are templated (``html_content`` may name a ``.html`` template
    file); ``to``, ``cc`` and ``bcc`` take a list or a string of addresses split by ``,`` or ``;``. ``files``
    is refused: in Airflow they are paths on the worker, and the scheduler that sends the mail has none."""

    template_fields: ClassVar[Sequence[str]] = ("to", "subject", "html_content", "files")
    template_ext: ClassVar[Sequence[str]] = (".html",)
    ui_color = "#e6faf9"

    def __init__(
        self,
        *,
        to: list[str] | str,
        subject: str,
        html_content: str,
        files: list[str] | None = None,
        cc: list[str] | str | None = None,
        bcc: list[str] | str | None = None,
        mime_subtype: str = "mixed",
        mime_charset: str = "utf-8",
        conn_id: str | None = None,
        from_email: str | None = None,
        custom_headers: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        where = f"task {self.task_id!r}"
        if files:
            raise DagDefinitionError(
                f"{where}: EmailOperator files={files!r} are not supported: attachments are paths on an Airflow "
                "worker, and dockyard sends the mail from the scheduler; link to the files in html_content instead"
            )
        if not to or not isinstance(to, str | list | tuple):
            raise DagDefinitionError(f"{where}: to must be an address or a list of addresses, got {to!r}")
        for name, value in (("subject", subject), ("html_content", html_content)):
            if not isinstance(value, str):
                raise DagDefinitionError(f"{where}: {name} must be a string, got {type(value).__name__}")
        if mime_subtype not in ("mixed", "alternative", "related"):
            raise DagDefinitionError(
                f"{where}: mime_subtype {mime_subtype!r} is not a multipart subtype; use mixed, alternative or related"
            )
        if custom_headers is not None and not isinstance(custom_headers, dict):
            raise DagDefinitionError(f"{where}: custom_headers must be a dict, got {type(custom_headers).__name__}")
        self.to = to
        self.subject = subject
        self.html_content = html_content
        self.files = files or []
        self.cc = cc
        self.bcc = bcc
        self.mime_subtype = mime_subtype
        self.mime_charset = mime_charset
        self.conn_id = conn_id or "smtp_default"
        self.from_email = from_email
        self.custom_headers = dict(custom_headers or {})

    def flow_facts(self) -> dict[str, Any]:
        return {"kind": "email"}

    def run_in_scheduler(self, context: Mapping[str, Any], rendered: Mapping[str, Any]) -> Any:
        from dockyard.mail import recipients

        to = recipients(rendered.get("to", self.to))
        if not to:
            raise DagDefinitionError(f"task {self.task_id!r}: to rendered to no address ({rendered.get('to')!r})")
        return {
            "conn_id": self.conn_id,
            "to": to,
            "cc": recipients(self.cc),
            "bcc": recipients(self.bcc),
            "subject": str(rendered.get("subject", self.subject)),
            "html_content": str(rendered.get("html_content", self.html_content)),
            "mime_subtype": self.mime_subtype,
            "mime_charset": self.mime_charset,
            "from_email": self.from_email,
            "custom_headers": {str(k): str(v) for k, v in self.custom_headers.items()},
        }
