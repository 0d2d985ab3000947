# Airflow 3 task SDK: @dag, @task.branch, Label and a one_done join.
import pendulum
from airflow.providers.docker.operators.docker import DockerOperator
from airflow.sdk import Label, TriggerRule, dag, task


@dag(schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC"), catchup=False)
def af3_sdk_branching():
    @task
    def sample_size():
        return 5

    @task.branch
    def by_size(n):
        return ["train_small"] if n < 10 else ["train_large"]

    small = DockerOperator(
        task_id="train_small", image="dockyard/busybox:latest", network_mode="none", command="echo small model"
    )
    large = DockerOperator(
        task_id="train_large", image="dockyard/busybox:latest", network_mode="none", command="echo large model"
    )

    @task(trigger_rule=TriggerRule.ONE_DONE)
    def evaluate(ti=None):
        return ti.xcom_pull(task_ids="train_small") or ti.xcom_pull(task_ids="train_large")

    choice = by_size(sample_size())
    choice >> Label("small sample") >> small
    choice >> Label("large sample") >> large
    [small, large] >> evaluate()


af3_sdk_branching()
