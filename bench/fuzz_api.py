"""Fuzz every API operation and every form of the web UI on a real server over a real database.

API operations come from the server's own OpenAPI document (schemathesis strategies, positive and negative
generation, driven by hypothesis); forms get hypothesis text with control characters, surrogates, NUL,
markup, huge numbers and long strings. Every request is checked for:

- no 5xx answer;
- a refused request (4xx) changed nothing stored: runs, task instances, variables, connections, DAG
  pause flags, users and tokens are compared before and after.

    .venv/bin/python bench/fuzz_api.py                     # about 10,000 cases on SQLite
    .venv/bin/python bench/fuzz_api.py --examples 50       # a quick pass
    DOCKYARD_DATABASE_URL=postgresql+psycopg://... .venv/bin/python bench/fuzz_api.py

Prints the count of cases per operation and form and every failure (exit code 1 if any).
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests
import schemathesis
import sqlalchemy as sa
import uvicorn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable

from dockyard.processor import DagProcessor
from dockyard.settings import Settings
from dockyard.store import Store
from dockyard.users import create_token, create_user
from dockyard.web import create_app

DAG = """
import datetime as dt
from dockyard import DAG, EmptyOperator, Param

with DAG("fuzz_dag", start_date=dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc), schedule=None,
         params={"n": Param(1, type="integer"), "s": Param("a", type="string")}) as dag:
    EmptyOperator(task_id="t")
"""
ADMIN = ("fuzz-admin", "fuzz-admin-pass-1")
STORED = ["dag_run", "task_instance", "variable", "connection", "dockyard_user", "api_token"]
"""Tables a refused request must leave as they were (plus each DAG's pause flag)."""

HOSTILE = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=20),
    st.sampled_from(
        [
            "",
            "\x00",
            "a\x00b",
            "\r\nSet-Cookie: x=1",
            "<script>alert(1)</script>",
            "../../etc/passwd",
            "'; DROP TABLE variable; --",
            "9" * 30,
            "-1",
            "1e308",
            "x" * 5000,
            "{" * 200,
            "\u202e",
            "fuzz_dag",
            "t",
        ]
    ),
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Fuzzer:
    def __init__(self, url: str, store: Store, token: str, session: requests.Session) -> None:
        self.url = url
        self.store = store
        self.token = token
        self.session = session
        self.counts: collections.Counter[str] = collections.Counter()
        self.statuses: collections.Counter[int] = collections.Counter()
        self.failures: list[str] = []

    def snapshot(self) -> dict[str, Any]:
        state: dict[str, Any] = {}
        with self.store.engine.connect() as connection:
            for table in STORED:
                rows = connection.execute(sa.text(f"SELECT * FROM {table}")).all()  # fixed table names
                state[table] = sorted(repr(tuple(r)) for r in rows)
            state["paused"] = sorted(connection.execute(sa.text("SELECT dag_id, is_paused FROM dag")).all())
        return state

    def check(self, name: str, send: Callable[[], requests.Response]) -> None:
        before = self.snapshot()
        try:
            response = send()
        except requests.RequestException as exc:
            self.failures.append(f"{name}: no answer ({exc})")
            return
        self.counts[name] += 1
        self.statuses[response.status_code] += 1
        if response.status_code >= 500:
            self.failures.append(f"{name}: {response.status_code} {response.text[:200]}")
        elif response.status_code >= 400 and self.snapshot() != before:
            after = self.snapshot()
            changed = [k for k in after if after[k] != before.get(k)]
            self.failures.append(
                f"{name}: refused with {response.status_code} ({response.text[:150]}) but "
                f"{', '.join(changed)} changed: {response.request.method} {response.request.url}"
            )

    def csrf(self) -> str:
        page = self.session.get(self.url + "/variables", timeout=30).text
        found = re.search(r'name="csrf" value="([^"]+)"', page)
        if not found:
            raise RuntimeError("no CSRF token on the variables page: the login failed")
        return found.group(1)


def fuzz_api(fuzzer: Fuzzer, examples: int) -> None:
    schema = schemathesis.openapi.from_url(
        fuzzer.url + "/api/v1/openapi.json", headers={"Authorization": f"Bearer {fuzzer.token}"}
    )
    for result in schema.get_all_operations():
        operation = result.ok()
        name = f"{operation.method.upper()} {operation.path}"
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):
            api_cases(fuzzer, name, operation.as_strategy(generation_mode=mode), examples // 2)


def api_cases(fuzzer: Fuzzer, name: str, strategy: Any, examples: int) -> None:
    headers = {"Authorization": f"Bearer {fuzzer.token}"}

    @given(case=strategy)
    @settings(
        max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck), database=None, derandomize=True
    )
    def run(case: schemathesis.Case) -> None:
        fuzzer.check(name, lambda: case.call(base_url=fuzzer.url, headers=headers, timeout=60))

    try:
        run()
    except Unsatisfiable:  # negative mode of an operation without inputs: nothing to make invalid
        pass


def fuzz_forms(fuzzer: Fuzzer, examples: int) -> None:
    forms: dict[str, tuple[Callable[..., str], list[str]]] = {
        "POST /login": (lambda: "/login", ["username", "password", "next"]),
        "POST /dags/{dag_id}/pause": (lambda d: f"/dags/{d}/pause", ["paused"]),
        "POST /dags/{dag_id}/trigger": (lambda d: f"/dags/{d}/trigger", ["param_n", "param_s"]),
        "POST /dags/{dag_id}/runs/{run_id}/tasks/{task_id}/action": (
            lambda d, r, t: f"/dags/{d}/runs/{r}/tasks/{t}/action",
            ["action"],
        ),
        "POST /connections": (lambda: "/connections", ["conn_id", "conn_type", "host", "port", "login", "extra"]),
        "POST /connections/{conn_id}/delete": (lambda c: f"/connections/{c}/delete", []),
        "POST /variables": (lambda: "/variables", ["key", "value", "description"]),
        "POST /variables/{key}/delete": (lambda k: f"/variables/{k}/delete", []),
        "GET /dags/{dag_id}": (lambda d: f"/dags/{d}", ["run_id"]),
        "GET /dags/{dag_id}/runs/{run_id}/tasks/{task_id}": (
            lambda d, r, t: f"/dags/{d}/runs/{r}/tasks/{t}",
            ["try_number"],
        ),
    }
    csrf = fuzzer.csrf()
    for name, (path_of, fields) in forms.items():
        form_cases(fuzzer, name, path_of, fields, csrf, examples)


def form_cases(
    fuzzer: Fuzzer, name: str, path_of: Callable[..., str], fields: list[str], csrf: str, examples: int
) -> None:
    arity = path_of.__code__.co_argcount

    @given(parts=st.lists(HOSTILE, min_size=arity, max_size=arity), values=st.lists(HOSTILE, min_size=3))
    @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def run(parts: list[str], values: list[str]) -> None:
        path = path_of(*[requests.utils.quote(p, safe="") or "x" for p in parts])
        data = dict(zip(fields, values, strict=False))
        target = fuzzer.url + path
        if name.startswith("GET"):
            fuzzer.check(name, lambda: fuzzer.session.get(target, params=data, timeout=60, allow_redirects=False))
            return
        if name != "POST /login":
            data["csrf"] = csrf
        fuzzer.check(name, lambda: fuzzer.session.post(target, data=data, timeout=60, allow_redirects=False))

    run()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=300, help="cases per API operation and per form")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="dockyard-fuzz-"))
    (root / "dags").mkdir()
    (root / "dags" / "fuzz_dag.py").write_text(DAG)
    env = {
        "DOCKYARD_HOME": str(root / "home"),
        "DOCKYARD_DAGS_FOLDER": str(root / "dags"),
        "DOCKYARD_LOGIN_MAX_FAILURES": "0",
        "DOCKYARD_LOGIN_MAX_FAILURES_PER_ADDRESS": "0",
        "DOCKYARD_MAX_REQUEST_BYTES": "65536",
    }
    if os.environ.get("DOCKYARD_DATABASE_URL"):
        env["DOCKYARD_DATABASE_URL"] = os.environ["DOCKYARD_DATABASE_URL"]
    config = Settings.from_env(env)
    store = Store.open(config)
    create_user(store, *ADMIN, "admin")
    token = create_token(store, ADMIN[0])
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(config, store), host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    url = f"http://127.0.0.1:{port}"
    session = requests.Session()
    page = session.get(url + "/login", timeout=30).text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page)
    assert csrf is not None
    session.post(url + "/login", data={"username": ADMIN[0], "password": ADMIN[1], "csrf": csrf.group(1)}, timeout=60)
    DagProcessor(config, store).refresh(force=True)  # the DAG folder parsed into the store, as the scheduler does
    fuzzer = Fuzzer(url, store, token, session)
    started = time.monotonic()
    fuzz_api(fuzzer, args.examples)
    fuzz_forms(fuzzer, args.examples)
    server.should_exit = True
    thread.join(timeout=30)
    print(f"{sum(fuzzer.counts.values())} cases in {time.monotonic() - started:.0f} s on {store.url}")
    for name, count in sorted(fuzzer.counts.items()):
        print(f"{count:>6}  {name}")
    print("statuses:", dict(sorted(fuzzer.statuses.items())))
    for failure in fuzzer.failures[:50]:
        print("FAIL", failure)
    print(f"{len(fuzzer.failures)} failure(s)")
    return 1 if fuzzer.failures else 0


if __name__ == "__main__":
    sys.exit(main())
