"""An ETL in three stages that pass their results along as XComs.

extract prints a row count (its last line is its XCom), transform reads it with ti.xcom_pull and writes a
JSON summary file that dockyard reads back (retrieve_output), load reports what it got.

    dockyard dags test etl_pipeline 2024-01-31
"""

from datetime import datetime, timedelta

from dockyard import DAG, DockerOperator, Param

with DAG(
    "etl_pipeline",
    start_date=datetime(2024, 1, 1),
    schedule="0 6 * * *",
    catchup=False,
    params={"rows": Param(120, type="integer", minimum=1, description="How many rows extract pretends to read")},
    default_args={
        "image": "dockyard/busybox:latest",
        "network_mode": "none",
        "retries": 2,
        "retry_delay": timedelta(seconds=10),
        "execution_timeout": timedelta(minutes=5),
    },
    tags=["example", "etl"],
    doc_md=__doc__,
) as dag:
    extract = DockerOperator(
        task_id="extract",
        command="sh -c 'echo reading source for {{ ds }}; echo {{ params.rows }}'",
    )
    transform = DockerOperator(
        task_id="transform",
        command=(
            "sh -c 'rows={{ ti.xcom_pull(task_ids=\"extract\") }}; "
            "echo transforming $rows rows; "
            "echo {\\\"day\\\": \\\"{{ ds }}\\\", \\\"rows\\\": $rows, \\\"valid\\\": true} > /tmp/summary.json'"
        ),
        retrieve_output=True,
        retrieve_output_path="/tmp/summary.json",
    )
    load = DockerOperator(
        task_id="load",
        command="echo loaded {{ ti.xcom_pull(task_ids='transform')['rows'] }} rows for {{ ds }}",
        private_environment={"WAREHOUSE_PASSWORD": "example-only-secret"},
    )
    extract >> transform >> load
