"""The CLI's changes in the event log: who, when and what, with every secret masked, and nothing for reads."""

from __future__ import annotations

import datetime as dt
import getpass
import json
from typing import Any

import sqlalchemy as sa

from dockyard.cli.audit import READ_ONLY, SERVICES, masked_arguments
from dockyard.cli.main import cli, commands_of
from dockyard.store.models import EventLogModel
from tests.cli.conftest import Dockyard


def events(dockyard: Dockyard) -> list[dict[str, Any]]:
    store = dockyard.store()
    try:
        with store.session() as s:
            rows = s.scalars(sa.select(EventLogModel).order_by(EventLogModel.id)).all()
            return [
                {
                    "event": r.event,
                    "owner": r.owner,
                    "dttm": r.dttm,
                    "dag_id": r.dag_id,
                    "run_id": r.run_id,
                    "extra": json.loads(r.extra or "{}"),
                    "raw": r.extra or "",
                }
                for r in rows
            ]
    finally:
        store.close()


def test_changes_are_recorded_with_who_when_what_and_reads_are_not(sqlite_dockyard: Dockyard) -> None:
    dockyard = sqlite_dockyard
    before = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) - dt.timedelta(seconds=1)
    dockyard("dags", "list")
    dockyard("pools", "list")
    dockyard("variables", "set", "greeting", "hello")
    dockyard("variables", "get", "greeting")
    [run] = dockyard.json("dags", "trigger", "chain", "-r", "manual_ops_1", "-c", '{"n": 5}')
    dockyard("dags", "unpause", "chain")
    recorded = events(dockyard)
    assert [e["event"] for e in recorded] == ["cli_variables_set", "cli_dags_trigger", "cli_dags_unpause"]
    assert {e["owner"] for e in recorded} == {getpass.getuser()}
    assert all(e["dttm"].replace(tzinfo=None) >= before for e in recorded)
    variable, trigger, unpause = recorded
    assert variable["extra"]["command"] == "variables set"
    assert variable["extra"]["args"] == {"key": "greeting", "value": "hello"}
    assert trigger["dag_id"] == "chain" and trigger["run_id"] == "manual_ops_1" == run["run_id"]
    assert trigger["extra"]["args"]["conf"] == '{"n": 5}'
    assert unpause["dag_id"] == "chain"


def test_passwords_uris_and_secret_variables_never_reach_the_log(sqlite_dockyard: Dockyard) -> None:
    dockyard = sqlite_dockyard
    dockyard("users", "create", "-u", "ada", "-e", "ada@example.com", "-p", "pw-canary-4417", "-r", "Admin")
    dockyard("users", "reset-password", "-u", "ada", "-p", "pw-canary-5523")
    dockyard("connections", "add", "db1", "--conn-uri", "postgres://ops:uri-canary-8812@db.example:5432/x")
    dockyard("connections", "add", "db2", "--conn-type", "http", "--conn-password", "cp-canary-1290")
    dockyard("connections", "add", "db3", "--conn-json", '{"conn_type": "http", "password": "js-canary-7781"}')
    dockyard("connections", "add", "db4", "--conn-type", "http", "--conn-extra", '{"api_key": "ex-canary-6620"}')
    dockyard("variables", "set", "api_token", "var-canary-3391")
    recorded = events(dockyard)
    assert [e["event"] for e in recorded] == [
        "cli_users_create",
        "cli_users_reset_password",
        *["cli_connections_add"] * 4,
        "cli_variables_set",
    ]
    text = "\n".join(e["raw"] for e in recorded)
    for canary in ("4417", "5523", "8812", "1290", "7781", "6620", "3391"):
        assert canary not in text
    by_args = [e["extra"]["args"] for e in recorded]
    assert by_args[0]["username"] == "ada" and by_args[0]["password"] == "***"
    assert by_args[2]["conn_uri"] == "postgres://ops:***@db.example:5432/x"
    assert json.loads(by_args[4]["conn_json"]) == {"conn_type": "http", "password": "***"}
    assert by_args[6] == {"key": "api_token", "value": "***"}


def test_a_refused_or_declined_command_is_not_recorded(sqlite_dockyard: Dockyard) -> None:
    sqlite_dockyard("dags", "trigger", "no_such_dag", ok=False)
    sqlite_dockyard("dags", "list")
    assert "Cancelled" in sqlite_dockyard("dags", "delete", "chain", input="n\n").stdout
    assert "Cancelled" in sqlite_dockyard("dags", "pause", "^chain", "--treat-dag-id-as-regex", input="n\n").stdout
    assert events(sqlite_dockyard) == []
    sqlite_dockyard("dags", "delete", "chain_two", "-y")
    assert [(e["event"], e["dag_id"]) for e in events(sqlite_dockyard)] == [("cli_dags_delete", "chain_two")]


def test_every_read_only_or_service_name_is_a_real_command() -> None:
    names = set(commands_of(cli))
    assert (READ_ONLY | SERVICES) - names == set()
    assert {"dags trigger", "users create", "connections add", "db clean"} <= names - READ_ONLY - SERVICES


def test_masking_of_a_secret_repeated_elsewhere_and_of_text_that_is_not_json() -> None:
    masked = masked_arguments({"password": "abc", "description": "pw is abc", "conn_extra": "not json"})
    assert masked == {"password": "***", "description": "pw is ***", "conn_extra": "***"}
    uri = masked_arguments({"conn_uri": "http://h:1/?api_key=k-canary-61&region=eu"})["conn_uri"]
    assert uri == "http://h:1/?api_key=***&region=eu"
    nested = masked_arguments({"conn_json": json.dumps({"extra": json.dumps({"token": "t-canary-52"})})})
    assert "t-canary-52" not in json.dumps(nested) and "token" in nested["conn_json"]
