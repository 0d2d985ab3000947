"""The smallest dockyard DAG: one container that greets the logical date, one that reads its XCom.

Run one task:   dockyard tasks test examples/dags/hello_dockyard.py hello 2024-01-31
The image is built offline by scripts/build-images (a static busybox).
"""

from datetime import datetime

from dockyard import DAG, DockerOperator

with DAG(
    "hello_dockyard",
    start_date=datetime(2024, 1, 1),
    schedule="@daily",
    catchup=False,
    default_args={"image": "dockyard/busybox:latest", "network_mode": "none", "retries": 1},
    tags=["example"],
    doc_md=__doc__,
) as dag:
    hello = DockerOperator(
        task_id="hello",
        command="sh -c 'echo Hello from a container on {{ ds }}; echo greeted-{{ ds_nodash }}'",
    )
    answer = DockerOperator(
        task_id="answer",
        command="echo upstream said {{ ti.xcom_pull(task_ids='hello') }}",
    )
    hello >> answer
