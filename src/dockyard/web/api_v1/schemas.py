"""Typed response bodies of ``/api/v1`` (Airflow 2's stable REST API names and types), so the OpenAPI
document has models and a client generated from it gets classes, not untyped objects.

Fields dockyard adds (``container_id``, ``exit_code``; on a try also ``image_digest``, ``peak_memory_bytes`` and
``cpu_time_seconds``) are allowed as extras; clients of Airflow ignore them.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, RootModel


class Shape(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class Collection(Shape):
    total_entries: int


class Tag(Shape):
    name: str


class Dag(Shape):
    dag_id: str
    dag_display_name: str
    root_dag_id: str | None = None
    is_paused: bool | None = None
    is_active: bool | None = None
    is_subdag: bool = False
    last_parsed_time: str | None = None
    last_pickled: str | None = None
    last_expired: str | None = None
    scheduler_lock: bool | None = None
    pickle_id: str | None = None
    default_view: str | None = None
    fileloc: str
    file_token: str
    owners: list[str]
    description: str | None = None
    schedule_interval: dict[str, Any] | None = None
    timetable_description: str | None = None
    tags: list[Tag] | None = None
    max_active_tasks: int | None = None
    max_active_runs: int | None = None
    has_task_concurrency_limits: bool | None = None
    has_import_errors: bool | None = None
    next_dagrun: str | None = None
    next_dagrun_data_interval_start: str | None = None
    next_dagrun_data_interval_end: str | None = None
    next_dagrun_create_after: str | None = None


class DagCollection(Collection):
    dags: list[Dag]


class DagDetail(Dag):
    timezone: str | None = None
    catchup: bool | None = None
    orientation: str | None = None
    concurrency: int | None = None
    start_date: str | None = None
    end_date: str | None = None
    dag_run_timeout: dict[str, Any] | None = None
    dataset_expression: dict[str, Any] | None = None
    doc_md: str | None = None
    params: dict[str, Any] | None = None
    is_paused_upon_creation: bool | None = None
    last_parsed: str | None = None
    template_search_path: list[str] | None = None
    render_template_as_native_obj: bool | None = None


class DagRun(Shape):
    dag_run_id: str | None = None
    dag_id: str
    logical_date: str | None = None
    execution_date: str | None = None
    start_date: str | None = None
    end_date: str | None = None
    data_interval_start: str | None = None
    data_interval_end: str | None = None
    last_scheduling_decision: str | None = None
    run_type: str
    state: str
    external_trigger: bool
    conf: dict[str, Any]
    note: str | None = None


class DagRunCollection(Collection):
    dag_runs: list[DagRun]


class TaskInstance(Shape):
    task_id: str
    task_display_name: str
    dag_id: str
    dag_run_id: str
    execution_date: str | None = None
    start_date: str | None = None
    end_date: str | None = None
    duration: float | None = None
    state: str | None = None
    try_number: int
    map_index: int
    max_tries: int
    hostname: str
    unixname: str | None = None
    pool: str
    pool_slots: int
    queue: str | None = None
    priority_weight: int | None = None
    operator: str | None = None
    queued_when: str | None = None
    pid: int | None = None
    executor: str | None = None
    executor_config: str
    sla_miss: dict[str, Any] | None = None
    rendered_map_index: str | None = None
    rendered_fields: dict[str, Any]
    trigger: dict[str, Any] | None = None
    triggerer_job: dict[str, Any] | None = None
    note: str | None = None


class TaskInstanceCollection(Collection):
    task_instances: list[TaskInstance]


class TaskInstanceReference(Shape):
    task_id: str
    dag_id: str
    execution_date: str | None = None
    dag_run_id: str


class TaskInstanceReferenceCollection(Shape):
    task_instances: list[TaskInstanceReference]


class ClassReference(Shape):
    module_path: str | None = None
    class_name: str | None = None


class TimeDelta(Shape):
    days: int
    seconds: int
    microseconds: int


class Task(Shape):
    class_ref: ClassReference
    task_id: str
    task_display_name: str
    owner: str
    start_date: str | None = None
    end_date: str | None = None
    trigger_rule: str
    extra_links: list[dict[str, Any]]
    depends_on_past: bool
    is_mapped: bool
    wait_for_downstream: bool
    retries: float
    queue: str | None = None
    executor: str | None = None
    pool: str
    pool_slots: float
    execution_timeout: dict[str, Any] | None = None
    retry_delay: dict[str, Any] | None = None
    retry_exponential_backoff: bool
    priority_weight: float
    weight_rule: str
    ui_color: str
    ui_fgcolor: str
    template_fields: list[str]
    downstream_task_ids: list[str]
    doc_md: str | None = None


class TaskCollection(Collection):
    tasks: list[Task]


class ImportError(Shape):
    import_error_id: int
    timestamp: str
    filename: str
    stack_trace: str


class ImportErrorCollection(Collection):
    import_errors: list[ImportError]


class Pool(Shape):
    name: str
    slots: int
    occupied_slots: int
    running_slots: int
    queued_slots: int
    scheduled_slots: int
    open_slots: int
    deferred_slots: int
    description: str | None = None
    include_deferred: bool


class PoolCollection(Collection):
    pools: list[Pool]


class EventLog(Shape):
    event_log_id: int
    when: str
    dag_id: str | None = None
    task_id: str | None = None
    run_id: str | None = None
    map_index: int | None = None
    try_number: int | None = None
    event: str
    execution_date: str | None = None
    owner: str | None = None
    extra: str | None = None


class EventLogCollection(Collection):
    event_logs: list[EventLog]


class Connection(Shape):
    connection_id: str
    conn_type: str | None = None
    description: str | None = None
    host: str | None = None
    login: str | None = None
    schema_: str | None = Field(None, alias="schema")
    port: int | None = None
    extra: str | None = None


class ConnectionTest(Shape):
    status: bool
    message: str


class Variable(Shape):
    key: str
    value: str
    description: str | None = None


class VariableCollection(Collection):
    variables: list[Variable]


class Health(Shape):
    metadatabase: dict[str, Any]
    scheduler: dict[str, Any]
    triggerer: dict[str, Any] | None = None
    dag_processor: dict[str, Any] | None = None


class Version(Shape):
    version: str
    git_version: str | None = None


class ConfigOption(Shape):
    key: str
    value: str


class ConfigSection(Shape):
    name: str
    options: list[ConfigOption]


class Config(Shape):
    sections: list[ConfigSection]


class Role(Shape):
    name: str
    actions: list[dict[str, Any]]


class RoleCollection(Collection):
    roles: list[Role]


class User(Shape):
    first_name: str | None = None
    last_name: str | None = None
    username: str
    email: str | None = None
    active: bool | None = None
    last_login: str | None = None
    login_count: int | None = None
    failed_login_count: int | None = None
    roles: list[dict[str, Any]]
    created_on: str | None = None
    changed_on: str | None = None


class UserCollection(Collection):
    users: list[User]


class XCom(Shape):
    key: str
    timestamp: str | None = None
    execution_date: str | None = None
    map_index: int = -1
    task_id: str
    dag_id: str
    dag_run_id: str | None = None
    value: str | None = None


class XComCollection(Collection):
    xcom_entries: list[XCom]


class Dependency(Shape):
    name: str
    reason: str


class DependencyCollection(Shape):
    dependencies: list[Dependency]


class ExtraLinkCollection(Shape):
    extra_links: list[dict[str, Any]]


class PluginCollection(Collection):
    plugins: list[dict[str, Any]]


class ProviderCollection(Collection):
    providers: list[dict[str, Any]]


class LogChunk(Shape):
    content: str
    continuation_token: str | None = None


class DagWarningCollection(Collection):
    dag_warnings: list[dict[str, Any]]


class DagStatsCollection(Collection):
    dags: list[dict[str, Any]]


class DagSource(Shape):
    content: str


class ClearedRun(RootModel[DagRun | TaskInstanceCollection]):
    """The run once cleared, or (``dry_run``) the task instances a clear would touch."""
