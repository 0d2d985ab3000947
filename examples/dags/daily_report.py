"""A daily schedule with templated dates and a mounted data folder.

Each day's run covers [data_interval_start, data_interval_end) and writes its report into the named
volume dockyard-example-data, one folder per day; a second task lists what the volume holds.

    dockyard dags test daily_report 2024-01-31
"""

from datetime import datetime

from dockyard import DAG, DockerOperator

with DAG(
    "daily_report",
    start_date=datetime(2024, 1, 1),
    schedule="@daily",
    catchup=False,
    default_args={
        "image": "dockyard/busybox:latest",
        "network_mode": "none",
        "mounts": ["dockyard-example-data:/data"],
    },
    tags=["example", "daily"],
    doc_md=__doc__,
) as dag:
    report = DockerOperator(
        task_id="report",
        command=(
            "sh -c 'mkdir -p /data/{{ ds_nodash }} && "
            "echo \"report for {{ data_interval_start | ds }} to {{ data_interval_end | ds }} (next: {{ next_ds }})\" "
            "> /data/{{ ds_nodash }}/report.txt && cat /data/{{ ds_nodash }}/report.txt'"
        ),
        environment={"REPORT_DAY": "{{ ds }}"},
    )
    inventory = DockerOperator(task_id="inventory", command="sh -c 'ls /data | wc -l'")
    report >> inventory
