# TaskFlow setup/teardown decorators around a container task, with the setup's XCom used by the work.
import pendulum
from airflow.decorators import dag, setup, task, teardown
from airflow.providers.docker.operators.docker import DockerOperator


@dag(schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC"), catchup=False)
def af2_setup_teardown_taskflow():
    @setup
    @task
    def create_bucket():
        return "tmp-bucket-1"

    @teardown
    @task
    def delete_bucket(name):
        return f"deleted {name}"

    bucket = create_bucket()
    upload = DockerOperator(
        task_id="upload",
        image="dockyard/busybox:latest",
        network_mode="none",
        command="echo uploading to {{ ti.xcom_pull(task_ids='create_bucket') }}",
    )
    bucket >> upload >> delete_bucket(bucket)


af2_setup_teardown_taskflow()
