"""Fan-out and fan-in: one task splits the work, shards run in parallel, a join collects every result.

The join uses xcom_all=False and ti.xcom_pull with a list of task ids to read all shards' results.

    dockyard dags test fan_out_fan_in
"""

from datetime import datetime

from dockyard import DAG, DockerOperator, EmptyOperator

SHARDS = 4

with DAG(
    "fan_out_fan_in",
    start_date=datetime(2024, 1, 1),
    schedule=None,
    max_active_tasks=4,
    default_args={"image": "dockyard/busybox:latest", "network_mode": "none"},
    tags=["example"],
    doc_md=__doc__,
) as dag:
    split = DockerOperator(task_id="split", command=f"sh -c 'echo splitting into {SHARDS}; echo {SHARDS}'")
    shards = [
        DockerOperator(
            task_id=f"shard_{i}",
            command=f"sh -c 'echo working on shard {i} of {{{{ ti.xcom_pull(task_ids=\"split\") }}}}; echo {i * 10}'",
        )
        for i in range(SHARDS)
    ]
    join = DockerOperator(
        task_id="join",
        command="echo totals {{ ti.xcom_pull(task_ids=['shard_0', 'shard_1', 'shard_2', 'shard_3']) | join(',') }}",
    )
    done = EmptyOperator(task_id="done")
    split >> shards >> join >> done
