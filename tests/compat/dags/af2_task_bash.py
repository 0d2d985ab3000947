# @task.bash: the function builds the command from an upstream container's XCom.
from datetime import datetime

from airflow.decorators import dag, task
from airflow.providers.docker.operators.docker import DockerOperator


@dag(dag_id="af2_task_bash", start_date=datetime(2024, 1, 1), schedule=None)
def pipeline():
    size = DockerOperator(task_id="size", image="dockyard/busybox:latest", network_mode="none", command="echo 42")

    @task.bash(env={"UNIT": "MB"})
    def archive(megabytes, ds=None):
        return f'echo "archiving {megabytes} $UNIT for {ds}"; echo archived-{ds}'

    @task.bash
    def maybe_skip():
        return "echo nothing to do; exit 99"

    archive(size.output) >> maybe_skip()


pipeline()
