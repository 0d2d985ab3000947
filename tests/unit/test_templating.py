"""Rendering matches Airflow's context values for the same run."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import jinja2
import pendulum
import pytest

from dockyard import DAG, DockerOperator
from dockyard.errors import TemplateError
from dockyard.params import Param, resolve_params
from dockyard.preparation import TaskTry
from dockyard.templating import (
    PreviousRun,
    RunFacts,
    TryFacts,
    build_context,
    ds_add,
    ds_format,
    make_environment,
    neighbour_dates,
    render_fields,
    variables_namespace,
)

UTC = dt.timezone.utc
WHEN = dt.datetime(2024, 2, 29, 6, 30, 5, tzinfo=UTC)


def _ti(dag: DAG, task: DockerOperator) -> TaskTry:
    return TaskTry(dag.dag_id, task.task_id, "manual__x", 1, WHEN, xcom_lookup=lambda d, t, k: f"{d}.{t}.{k}")


def render(task: DockerOperator, dag: DAG, searchpath: list[str] | None = None, **kwargs: Any) -> dict[str, Any]:
    ti = _ti(dag, task)
    context = build_context(dag=dag, task=task, logical_date=WHEN, run_id="manual__x", ti=ti, **kwargs)
    return render_fields(task, context, make_environment(dag, searchpath or []))


def test_date_names_render_like_airflow() -> None:
    with DAG("d", start_date=WHEN) as dag:
        task = DockerOperator(
            task_id="t",
            image="img:{{ ds_nodash }}",
            command="{{ ds }} {{ ts }} {{ ts_nodash }} {{ ts_nodash_with_tz }} {{ run_id }} {{ logical_date.year }}",
        )
    out = render(task, dag)
    assert out["image"] == "img:20240229"
    assert out["command"] == "2024-02-29 2024-02-29T06:30:05+00:00 20240229T063005 20240229T063005+0000 manual__x 2024"


def test_macros_params_and_xcom_pull() -> None:
    with DAG("d", start_date=WHEN, params={"n": 1, "who": "dag"}) as dag:
        task = DockerOperator(
            task_id="t",
            image="i",
            params={"who": "task"},
            command="{{ macros.ds_add(ds, 1) }} {{ params.n }} {{ params.who }} {{ ti.xcom_pull(task_ids='up') }}",
            environment={"WHEN": "{{ macros.ds_format(ds, '%Y-%m-%d', '%d/%m/%y') }}", "N": 3},
        )
    out = render(task, dag, params={"n": 5})
    assert out["command"] == "2024-03-01 5 task d.up.return_value"
    assert out["environment"] == {"WHEN": "29/02/24", "N": 3}


def test_data_interval_is_handed_in() -> None:
    with DAG("d", start_date=WHEN) as dag:
        task = DockerOperator(
            task_id="t", image="i", command="{{ data_interval_start | ds }}/{{ data_interval_end | ds }}"
        )
    out = render(task, dag, data_interval=(WHEN - dt.timedelta(days=1), WHEN))
    assert out["command"] == "2024-02-28/2024-02-29"


def test_ds_macros() -> None:
    assert ds_add("2024-01-31", 1) == "2024-02-01"
    assert ds_add("2024-03-01", -1) == "2024-02-29"
    assert ds_format("2024-01-31", "%Y-%m-%d", "%Y/%m") == "2024/01"


def test_undefined_names_fail_clearly() -> None:
    with DAG("d", start_date=WHEN) as dag:
        task = DockerOperator(task_id="t", image="i", command="echo {{ dss }}")
    with pytest.raises(
        TemplateError, match=r"task 't': the template in command does not render.*'dss' is undefined.*Known names: .*ds"
    ):
        render(task, dag)


def test_template_files_are_read_from_the_dag_folder(tmp_path: Path) -> None:
    (tmp_path / "run.sh").write_text("echo {{ ds }}\n")
    (tmp_path / "vars.env").write_text("DAY={{ ds_nodash }}\n")
    with DAG("d", start_date=WHEN) as dag:
        task = DockerOperator(task_id="t", image="i", command="run.sh", env_file="vars.env")
        missing = DockerOperator(task_id="m", image="i", command="gone.sh")
    out = render(task, dag, [str(tmp_path)])
    # Airflow's Jinja drops one trailing newline of a template file (keep_trailing_newline=False)
    assert out["command"] == "echo 2024-02-29"
    assert out["env_file"] == "DAY=20240229"
    with pytest.raises(TemplateError, match="'gone.sh' was not found next to the DAG file"):
        render(missing, dag, [str(tmp_path)])


def test_mounts_are_templated_and_the_task_is_not_changed() -> None:
    with DAG("d", start_date=WHEN) as dag:
        task = DockerOperator(
            task_id="t",
            image="i",
            mounts=["/data/{{ ds }}:/in:ro", {"target": "/o", "source": "/out/{{ ds_nodash }}", "type": "bind"}],
        )
    out = render(task, dag)
    assert out["mounts"] == ["/data/2024-02-29:/in:ro", {"target": "/o", "source": "/out/20240229", "type": "bind"}]
    assert task.mounts[0] == "/data/{{ ds }}:/in:ro"


def test_docker_conn_id_is_templated_as_the_provider_does() -> None:
    with DAG("d", start_date=WHEN, params={"registry": "ghcr"}) as dag:
        task = DockerOperator(task_id="t", image="i", docker_conn_id="{{ params.registry }}_{{ ds_nodash }}")
    assert render(task, dag)["docker_conn_id"] == "ghcr_20240229"
    assert task.options.render(render(task, dag)).docker_conn_id == "ghcr_20240229"


def test_user_macros_filters_and_native_rendering() -> None:
    with DAG(
        "d",
        start_date=WHEN,
        user_defined_macros={"region": "eu"},
        user_defined_filters={"up": str.upper},
        render_template_as_native_obj=True,
    ) as dag:
        task = DockerOperator(task_id="t", image="{{ region | up }}", command="{{ [1, 2] }}")
    out = render(task, dag)
    assert out["image"] == "EU"
    assert out["command"] == [1, 2]


def test_lenient_undefined_when_the_dag_asks_for_it() -> None:
    with DAG("d", start_date=WHEN, template_undefined=jinja2.Undefined) as dag:
        task = DockerOperator(task_id="t", image="i", command="echo [{{ nothing }}]")
    assert render(task, dag)["command"] == "echo []"


# One template per context name, rendered by Apache Airflow for the same DAG and runs ---------------------

DATA = Path(__file__).parent.parent / "data"
CAPTURED = json.loads((DATA / "airflow_context.json").read_text())
DIFFERENT_BY_DESIGN = {
    "{{ ti.log_url }}": "points at dockyard's task page, not Airflow's grid view",
    "{{ ti.operator }}": "the captured DAG ran a BashOperator; the same task here is a DockerOperator",
}


def _at(value: str | None) -> dt.datetime | None:
    return None if value is None else dt.datetime.fromisoformat(value)


def context_for(kind: str) -> tuple[DAG, dict[str, Any]]:
    facts = CAPTURED["runs"][kind]
    with DAG(
        CAPTURED["dag"]["dag_id"],
        start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
        schedule="@daily",
        params={"n": Param(3, type="integer"), "who": "dag"},
    ) as dag:
        task = DockerOperator(task_id="t", image="i", retries=2, params={"who": "task"})
    logical_date = _at(facts["logical_date"])
    assert logical_date is not None
    previous = CAPTURED["runs"]["previous_success"]
    previous_date = _at(previous["logical_date"])
    assert previous_date is not None
    before = previous_date < logical_date  # the store's answer: the latest successful run before this one
    start, end = (_at(v) for v in facts["data_interval"])
    assert start is not None and end is not None
    conf = facts.get("conf")
    context = build_context(
        dag=dag,
        task=task,
        logical_date=logical_date,
        run_id=facts["run_id"],
        ti=TaskTry(dag.dag_id, "t", facts["run_id"], 1, logical_date),
        data_interval=(start, end),
        params=resolve_params(dag.params, conf),
        conf=conf,
        run=RunFacts(
            run_type=facts["run_type"],
            state=CAPTURED["dag_run"]["state"],
            start_date=_at(CAPTURED["dag_run"]["start_date"]),
            queued_at=_at(CAPTURED["dag_run"]["queued_at"]),
        ),
        attempt=TryFacts(
            hostname=CAPTURED["ti"]["hostname"], start_date=_at(CAPTURED["ti"]["start_date"]), state="running"
        ),
        previous_success=PreviousRun(
            logical_date=previous_date,
            data_interval=(dt.datetime.fromisoformat(previous["data_interval"][0]), _at(previous["data_interval"][1])),  # type: ignore[arg-type]
            start_date=_at(previous["start_date"]),
            end_date=_at(previous["end_date"]),
        )
        if before
        else None,
        extra={"var": variables_namespace(lambda name: None)},
    )
    return dag, context


@pytest.mark.parametrize("kind", ["scheduled", "manual", "backfill"])
def test_every_context_name_renders_as_airflow_2_11_renders_it(kind: str) -> None:
    dag, context = context_for(kind)
    env = make_environment(dag, [])
    expected = CAPTURED["runs"][kind]["rendered"]
    assert len(expected) >= 100
    differences = {}
    for expression, airflow_value in expected.items():
        if expression in DIFFERENT_BY_DESIGN:
            continue
        ours = env.from_string(expression).render(**context)
        if ours != airflow_value:
            differences[expression] = (ours, airflow_value)
    assert differences == {}, f"rendered like Airflow {CAPTURED['airflow_version']} except: {differences}"


def test_manual_runs_have_their_own_date_as_next_and_previous() -> None:
    """Airflow's rule: a manual run's prev_ds and next_ds are its own ds, whatever the schedule."""
    _, context = context_for("manual")
    assert context["next_ds"] == context["prev_ds"] == context["ds"] == "2024-03-11"
    _, scheduled = context_for("scheduled")
    assert (scheduled["prev_ds"], scheduled["next_ds"]) == ("2024-03-09", "2024-03-11")
    # Neighbour dates handed in from outside cannot contradict the run's type.
    with DAG("d", start_date=WHEN, schedule="@daily") as dag:
        task = DockerOperator(task_id="t", image="i")
    stale = neighbour_dates(WHEN - dt.timedelta(days=1), WHEN + dt.timedelta(days=1))
    manual = build_context(dag=dag, task=task, logical_date=WHEN, run_id="manual__x", ti=_ti(dag, task), extra=stale)
    assert manual["next_ds"] == manual["prev_ds"] == "2024-02-29"


def test_airflow_3_names_and_templates_dict() -> None:
    _, context = context_for("scheduled")
    assert context["triggering_asset_events"] == {} and context["try_number"] == 1
    assert context["start_date"] == pendulum.datetime(2024, 3, 11, 12, 35, 0, 100000, tz="UTC")
    assert (
        context["ti"].log_url
        == "/dags/ctx_capture/runs/scheduled__2024-03-10T00%3A00%3A00%2B00%3A00/tasks/t?try_number=1"
    )
    with DAG("d", start_date=WHEN) as dag:
        task = DockerOperator(task_id="t", image="i", command="{{ templates_dict }} {{ conf.get('core', 'x') }}")
    task.templates_dict = {"day": "x"}  # type: ignore[attr-defined]
    with pytest.raises(TemplateError, match=r"conf.get\('core', 'x'\): dockyard has no such configuration option"):
        render(task, dag)
    task.command = "{{ templates_dict }} {{ conf.get('core', 'dags_folder') }}"
    out = render_fields(
        task,
        build_context(
            dag=dag,
            task=task,
            logical_date=WHEN,
            run_id="r",
            ti=_ti(dag, task),
            config={"core": {"dags_folder": "/dags"}},
        ),
        make_environment(dag, []),
    )
    assert out["command"] == "{'day': 'x'} /dags"


def test_native_rendering_gives_python_values() -> None:
    with DAG("d", start_date=WHEN, render_template_as_native_obj=True, params={"n": 3}) as dag:
        task = DockerOperator(
            task_id="t", image="i", command="{{ params.n + 1 }}", environment={"WHEN": "{{ logical_date }}"}
        )
    out = render(task, dag)
    assert out["command"] == 4
    assert isinstance(out["environment"]["WHEN"], pendulum.DateTime)
    assert out["environment"]["WHEN"].add(days=1).day == 1  # 2024-02-29 + 1 day


def test_templates_are_sandboxed_as_in_airflow() -> None:
    with DAG("d", start_date=WHEN) as dag:
        task = DockerOperator(task_id="t", image="i", command="{{ ''.__class__.__mro__ }}")
    with pytest.raises(TemplateError, match="does not render"):
        render(task, dag)
    with DAG("d", start_date=WHEN, user_defined_macros={"ds": "mine", "region": "eu"}) as dag:
        task = DockerOperator(task_id="t", image="i", command="{{ ds }} {{ region }}")
    assert render(task, dag)["command"] == "2024-02-29 eu"
