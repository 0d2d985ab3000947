# @task.branch choosing a whole task group by its id; the other group is skipped.
import pendulum
from airflow.decorators import dag, task
from airflow.operators.empty import EmptyOperator
from airflow.providers.docker.operators.docker import DockerOperator
from airflow.utils.task_group import TaskGroup


@dag(schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC"), catchup=False, tags=["branching"])
def af2_task_branch_groups():
    @task.branch
    def route(**context):
        rows = int(context["params"].get("rows", 120))
        return "bulk" if rows > 100 else "small"

    with TaskGroup("bulk") as bulk:
        split = DockerOperator(
            task_id="split", image="dockyard/busybox:latest", network_mode="none", command="echo split into 4"
        )
        merge = DockerOperator(
            task_id="merge", image="dockyard/busybox:latest", network_mode="none", command="echo merged"
        )
        split >> merge

    with TaskGroup("small") as small:
        DockerOperator(task_id="direct", image="dockyard/busybox:latest", network_mode="none", command="echo direct")

    done = EmptyOperator(task_id="done", trigger_rule="none_failed_min_one_success")
    route() >> [bulk, small] >> done


af2_task_branch_groups()
