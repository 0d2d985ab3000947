"""Extract pushes its row count and partition, a project's own branch operator reads them, @task ids are overridden."""

import pendulum
from airflow import DAG
from airflow.decorators import task
from airflow.operators.bash import BashOperator
from airflow.operators.branch import BaseBranchOperator
from airflow.operators.empty import EmptyOperator
from airflow.operators.python import PythonOperator, get_current_context
from airflow.providers.docker.operators.docker import DockerOperator


def extract(ti, ds):
    rows = [3, 1, 2]
    ti.xcom_push(key="row_count", value=len(rows))
    ti.xcom_push(key="partition", value=f"dt={ds}")
    return rows


def audit(**context):
    context["ti"].xcom_push(key="audited", value={"ok": True, "day": context["ds"]})


class RowCountBranch(BaseBranchOperator):
    """Full load above the threshold, an incremental one below it."""

    template_fields = ("threshold",)

    def __init__(self, *, threshold, full_task, incremental_task, **kwargs):
        super().__init__(**kwargs)
        self.threshold = threshold
        self.full_task = full_task
        self.incremental_task = incremental_task

    def choose_branch(self, context):
        count = context["ti"].xcom_pull(task_ids="extract", key="row_count")
        self.log.info("%s rows against a threshold of %s", count, self.threshold)
        return self.full_task if count > int(self.threshold) else self.incremental_task


with DAG(
    "af2_xcom_push_branch",
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    schedule=None,
    params={"threshold": 2},
    default_args={"retries": 0},
) as dag:
    rows = PythonOperator(task_id="extract", python_callable=extract)
    quiet = PythonOperator(task_id="audit", python_callable=audit, do_xcom_push=False)
    branch = RowCountBranch(
        task_id="choose_load", threshold="{{ params.threshold }}", full_task="full_load", incremental_task="incremental"
    )
    full = BashOperator(
        task_id="full_load", bash_command="echo full {{ ti.xcom_pull(task_ids='extract', key='partition') }}"
    )
    incremental = BashOperator(task_id="incremental", bash_command="echo incremental")
    show = DockerOperator(
        task_id="show_count",
        image="dockyard/busybox:latest",
        network_mode="none",
        command="echo rows={{ ti.xcom_pull(task_ids='extract', key='row_count') }}",
    )
    done = EmptyOperator(task_id="done", trigger_rule="none_failed_min_one_success")
    rows >> [quiet, branch, show]
    branch >> [full, incremental] >> done

    @task(retries=1)
    def scale(value, factor):
        get_current_context()["ti"].xcom_push(key="factor", value=factor)
        return value * factor

    @task
    def summary(doubled, tripled, **context):
        ti = context["ti"]
        audited = ti.xcom_pull(task_ids="audit", key="audited")
        return f"{doubled} {sorted(tripled)} factor={ti.xcom_pull(task_ids='double', key='factor')} ok={audited['ok']}"

    doubled = scale.override(task_id="double")(21, 2)
    tripled = scale.override(task_id="triple", retries=2).partial(factor=3).expand(value=[1, 2])
    final = summary(doubled, tripled)
    quiet >> final
