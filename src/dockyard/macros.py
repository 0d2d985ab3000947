"""``{{ macros.* }}`` and ``{{ conf.get(...) }}`` of the template context, as Airflow's.

``macros`` holds what Airflow's ``airflow.macros`` module holds: ``ds_add``, ``ds_format``,
``ds_format_locale``, ``datetime_diff_for_humans``, and the modules and names ``datetime`` (the class),
``timedelta``, ``dateutil``, ``json``, ``time``, ``uuid``, ``random`` (the function) and ``yaml``.

``conf`` answers Airflow configuration lookups that DAG files make in templates (``conf.get('core',
'dags_folder')``); dockyard has no airflow.cfg, so the values are the few dockyard knows, handed in, over
Airflow's defaults for the options templates read.

Example::

    MACROS.ds_add("2024-01-31", 1)                    # '2024-02-01'
    AirflowConfigView({}).get("core", "default_timezone")  # 'utc'
"""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from collections.abc import Mapping
from random import random
from types import SimpleNamespace
from typing import Any

import dateutil
import dateutil.parser
import dateutil.relativedelta
import dateutil.rrule
import dateutil.tz
import pendulum
import yaml

from dockyard.errors import TemplateError


def ds_add(ds: str, days: int) -> str:
    """``ds_add('2024-01-31', 1)`` -> ``'2024-02-01'`` (Airflow's macro)."""
    if not days:
        return str(ds)
    return (dt.datetime.strptime(str(ds), "%Y-%m-%d") + dt.timedelta(days=days)).strftime("%Y-%m-%d")


def ds_format(ds: str, input_format: str, output_format: str) -> str:
    """``ds_format('2024-01-31', '%Y-%m-%d', '%d/%m/%y')`` -> ``'31/01/24'`` (Airflow's macro)."""
    return dt.datetime.strptime(str(ds), input_format).strftime(output_format)


def ds_format_locale(ds: str, input_format: str, output_format: str, locale: Any = None) -> str:
    """``ds_format_locale('2024-07-12', '%Y-%m-%d', 'EEEE d MMMM', 'nl_NL')`` -> ``'vrijdag 12 juli'``.

    Babel formats the date, as in Airflow; it is needed only by DAGs that call this macro.
    """
    try:
        from babel.dates import format_datetime  # type: ignore[import-not-found,unused-ignore]
    except ImportError as exc:
        raise TemplateError(
            "macros.ds_format_locale needs the 'babel' package in dockyard's environment (pip install babel)"
        ) from exc
    value = dt.datetime.strptime(str(ds), input_format)
    return str(format_datetime(value, format=output_format, locale=locale or "en_US"))


def datetime_diff_for_humans(value: dt.datetime, since: dt.datetime | None = None) -> str:
    """``'1 day after'``: how far ``value`` is from ``since`` (from now without it), as pendulum says it."""
    other = None if since is None else pendulum.instance(since)
    return pendulum.instance(value).diff_for_humans(other)


MACROS = SimpleNamespace(
    ds_add=ds_add,
    ds_format=ds_format,
    ds_format_locale=ds_format_locale,
    datetime_diff_for_humans=datetime_diff_for_humans,
    datetime=dt.datetime,
    timedelta=dt.timedelta,
    dateutil=dateutil,
    json=json,
    time=time,
    uuid=uuid,
    random=random,
    yaml=yaml,
)
"""The ``macros`` context entry (``dateutil.parser``, ``.relativedelta``, ``.rrule`` and ``.tz`` are loaded)."""

AIRFLOW_DEFAULTS: dict[str, dict[str, str]] = {
    "core": {
        "default_timezone": "utc",
        "executor": "LocalExecutor",
        "dags_are_paused_at_creation": "True",
        "max_active_runs_per_dag": "16",
        "max_active_tasks_per_dag": "16",
        "default_task_retries": "0",
        "dag_run_conf_overrides_params": "True",
        "load_examples": "False",
        "unit_test_mode": "False",
    },
    "webserver": {"base_url": "http://localhost:8080", "default_ui_timezone": "UTC"},
    "logging": {"base_log_folder": ""},
    "scheduler": {"catchup_by_default": "True"},
}
"""Airflow's defaults for the options templates read; dockyard's own values (handed in) go over them."""

_MISSING = object()


class AirflowConfigView:
    """``{{ conf.get('core', 'dags_folder') }}``: Airflow's configuration lookups, answered from handed-in values."""

    def __init__(self, values: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        merged = {section: dict(options) for section, options in AIRFLOW_DEFAULTS.items()}
        for section, options in (values or {}).items():
            merged.setdefault(section.lower(), {}).update({k.lower(): str(v) for k, v in options.items()})
        self._values = merged

    def has_option(self, section: str, key: str) -> bool:
        return key.lower() in self._values.get(section.lower(), {})

    def get(self, section: str, key: str, fallback: Any = _MISSING, **_: Any) -> Any:
        options = self._values.get(section.lower(), {})
        if key.lower() in options:
            return options[key.lower()]
        if fallback is not _MISSING:
            return fallback
        raise TemplateError(
            f"conf.get({section!r}, {key!r}): dockyard has no such configuration option; "
            f"give a fallback, e.g. conf.get({section!r}, {key!r}, fallback='...')"
        )

    def getboolean(self, section: str, key: str, fallback: Any = _MISSING, **_: Any) -> bool:
        value = self.get(section, key, fallback=fallback)
        return value if isinstance(value, bool) else str(value).strip().lower() in ("true", "t", "1", "yes", "on")

    def getint(self, section: str, key: str, fallback: Any = _MISSING, **_: Any) -> int:
        return int(self.get(section, key, fallback=fallback))

    def getfloat(self, section: str, key: str, fallback: Any = _MISSING, **_: Any) -> float:
        return float(self.get(section, key, fallback=fallback))

    def getjson(self, section: str, key: str, fallback: Any = _MISSING, **_: Any) -> Any:
        value = self.get(section, key, fallback=fallback)
        return json.loads(value) if isinstance(value, str) else value

    def as_dict(self) -> dict[str, dict[str, str]]:
        return {section: dict(options) for section, options in self._values.items()}

    def __repr__(self) -> str:
        return "<AirflowConfigView>"


_ = (dateutil.parser, dateutil.relativedelta, dateutil.rrule, dateutil.tz)  # loaded so macros.dateutil.X works
