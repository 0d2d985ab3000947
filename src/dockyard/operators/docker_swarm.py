"""``DockerSwarmOperator``: a task that runs as a one-shot Docker Swarm service. Airflow's provider's arguments.

Everything :class:`~dockyard.operators.docker.DockerOperator` takes, plus the service's own arguments
(``args, enable_logging, configs, secrets, mode, networks, placement, container_resources, service_prefix,
logging_driver, logging_driver_opts``), with the provider's names and meanings. The service is made on the
swarm manager that ``docker_url`` (or ``DOCKER_HOST``) names, with restart policy ``none``, and the swarm
places its task on a node; its log becomes the task log, its exit code the task's, its last line the XCom.

Container options a service cannot honour (``privileged``, ``port_bindings``, ``retrieve_output``, ...) are
refused when the DAG file loads, each with what to do instead; docs/swarm.md lists how every option maps.

Example::

    from docker.types import Placement, Resources

    DockerSwarmOperator(
        task_id="train",
        image="registry.example.com/ml/train:1.4",
        command="python train.py --date {{ ds }}",
        placement=Placement(constraints=["node.labels.gpu == true"]),
        container_resources=Resources(mem_limit="8g"),
        networks=["etl"],
    )
"""

from __future__ import annotations

from typing import Any

from dockyard import defaults
from dockyard.container.service_options import ServiceOptions, check_service
from dockyard.errors import ContainerSpecError, DagDefinitionError
from dockyard.operators.docker import DockerOperator

SERVICE_FIELDS = (
    "args",
    "enable_logging",
    "configs",
    "secrets",
    "mode",
    "networks",
    "placement",
    "container_resources",
    "service_prefix",
    "logging_driver",
    "logging_driver_opts",
)
"""The provider's ``DockerSwarmOperator`` arguments beyond ``DockerOperator``'s."""


class DockerSwarmOperator(DockerOperator):
    """Run a command as a one-shot Docker Swarm service (see the module docstring)."""

    ui_color = "#c8e0ff"

    def __init__(
        self,
        *,
        image: str,
        args: str | list[str] | None = None,
        enable_logging: bool = True,
        configs: list[Any] | None = None,
        secrets: list[Any] | None = None,
        mode: Any = None,
        networks: list[Any] | None = None,
        placement: Any = None,
        container_resources: Any = None,
        service_prefix: str = defaults.DEFAULT_SERVICE_PREFIX,
        logging_driver: str | None = None,
        logging_driver_opts: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(image=image, **kwargs)
        arguments = locals()
        values = {name: arguments[name] for name in SERVICE_FIELDS}
        self.__dict__.update(values)
        try:
            self.__dict__["service_options"] = ServiceOptions.from_values(
                {**values, "command_replaces_entrypoint": True}, task_id=self.task_id
            )
            check_service(self.options, task_id=self.task_id)
        except ContainerSpecError as exc:
            raise DagDefinitionError(str(exc)) from None

    service_options: ServiceOptions
    """The service's options in their normal form (the Engine API's), checked at load."""
