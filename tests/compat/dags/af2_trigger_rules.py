from datetime import datetime

from airflow import DAG
from airflow.operators.empty import EmptyOperator
from airflow.providers.docker.operators.docker import DockerOperator
from airflow.utils.trigger_rule import TriggerRule

common = dict(image="dockyard/busybox:latest", network_mode="none")

with DAG("af2_trigger_rules", start_date=datetime(2023, 1, 1), schedule=None) as dag:
    check = DockerOperator(
        task_id="check_source", command="sh -c 'echo no new data; exit 99'", skip_on_exit_code=99, **common
    )
    process = DockerOperator(task_id="process", command="echo processing", **common)
    validate = DockerOperator(task_id="validate", command="sh -c 'echo invalid rows; exit 1'", **common)
    alert = DockerOperator(
        task_id="alert", command="echo alerting on failure", trigger_rule=TriggerRule.ONE_FAILED, **common
    )
    cleanup = DockerOperator(task_id="cleanup", command="echo cleaning up", trigger_rule="all_done", **common)
    end = EmptyOperator(task_id="end", trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS)
    check >> process >> end
    validate >> [alert, cleanup]
    cleanup >> end
