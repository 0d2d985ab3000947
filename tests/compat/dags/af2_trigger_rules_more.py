# Trigger rules beyond the usual ones: one_done, all_skipped, none_skipped, all_failed, always.
from datetime import datetime

from airflow import DAG
from airflow.operators.empty import EmptyOperator
from airflow.providers.docker.operators.docker import DockerOperator
from airflow.utils.trigger_rule import TriggerRule

common = dict(image="dockyard/busybox:latest", network_mode="none")

with DAG("af2_trigger_rules_more", start_date=datetime(2024, 1, 1), schedule=None) as dag:
    fails = DockerOperator(task_id="fails", command="sh -c 'exit 2'", **common)
    skips = DockerOperator(task_id="skips", command="sh -c 'exit 99'", skip_on_exit_code=99, **common)
    first_done = DockerOperator(
        task_id="first_done", command="echo one done", trigger_rule=TriggerRule.ONE_DONE, **common
    )
    only_skips = DockerOperator(
        task_id="only_skips", command="echo all skipped", trigger_rule=TriggerRule.ALL_SKIPPED, **common
    )
    no_skips = DockerOperator(
        task_id="no_skips", command="echo none skipped", trigger_rule=TriggerRule.NONE_SKIPPED, **common
    )
    all_failed = DockerOperator(
        task_id="all_failed", command="echo all failed", trigger_rule=TriggerRule.ALL_FAILED, **common
    )
    always = EmptyOperator(task_id="always", trigger_rule=TriggerRule.ALWAYS)
    [fails, skips] >> first_done
    skips >> only_skips
    [fails, skips] >> no_skips
    fails >> all_failed
    [first_done, only_skips, no_skips, all_failed] >> always
