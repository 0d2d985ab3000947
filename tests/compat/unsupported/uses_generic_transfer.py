from datetime import datetime

from airflow import DAG
from airflow.operators.generic_transfer import GenericTransfer

with DAG("uses_generic_transfer", start_date=datetime(2023, 1, 1), schedule=None) as dag:
    GenericTransfer(
        task_id="copy",
        sql="SELECT * FROM src",
        destination_table="dst",
        source_conn_id="a",
        destination_conn_id="b",
    )
