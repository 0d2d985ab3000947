from datetime import datetime

from airflow.decorators import dag, task


@dag(start_date=datetime(2023, 1, 1), schedule=None, catchup=False, tags=["taskflow"])
def af2_decorator_docker():
    @task.docker(image="dockyard/python:latest", network_mode="none")
    def extract(day):
        return {"day": day, "values": [3, 1, 2]}

    @task.docker(image="dockyard/python:latest", network_mode="none", multiple_outputs=False)
    def total(data, scale=1):
        return {"day": data["day"], "total": sum(data["values"]) * scale}

    total(extract("{{ ds }}"), scale=10)


af2_decorator_docker()
