"""Rendering matches Airflow's context values for the same run."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import jinja2
import pytest

from dockyard import DAG, DockerOperator
from dockyard.errors import TemplateError
from dockyard.execution import TaskTry
from dockyard.templating import build_context, ds_add, ds_format, make_environment, render_fields

UTC = dt.timezone.utc
WHEN = dt.datetime(2024, 2, 29, 6, 30, 5, tzinfo=UTC)


def render(task: DockerOperator, dag: DAG, searchpath: list[str] | None = None, **kwargs: Any) -> dict[str, Any]:
    ti = TaskTry(dag.dag_id, task.task_id, "manual__x", 1, WHEN, xcom_lookup=lambda d, t, k: f"{d}.{t}.{k}")
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
    assert out["command"] == "echo 2024-02-29\n"
    assert out["env_file"] == "DAY=20240229\n"
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
