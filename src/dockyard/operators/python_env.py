"""The Python operators that pick an interpreter or a command, all in the task image:

- ``PythonVirtualenvOperator`` / ``@task.virtualenv``: the callable runs in a virtualenv created in the
  container; ``requirements`` are installed into it with pip (so the container needs a package index: with
  none, the task fails naming the requirements; without requirements the image's own python runs it, with
  the image's packages, which is what ``system_site_packages=True`` gives in Airflow);
- ``ExternalPythonOperator`` / ``@task.external_python``: the callable runs with the interpreter at ``python``
  inside the task image (an image without it fails the task with one clear error naming the path);
- ``@task.bash``: the function returns a Bash command, which runs in the container; the last line of its
  output is the XCom, exit code 99 skips, as with ``BashOperator``.

Example::

    @task.virtualenv(requirements=[], system_site_packages=True)
    def tidy(rows): ...

    @task.external_python(python="/opt/venvs/etl/bin/python")
    def load(rows): ...

    @task.bash
    def archive(ds=None):
        return f"tar czf /tmp/{ds}.tgz /data"
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Mapping
from typing import Any

from dockyard.errors import DagDefinitionError
from dockyard.operators.python import PythonOperator


class PythonVirtualenvOperator(PythonOperator):
    """Airflow's ``PythonVirtualenvOperator``: the callable in a virtualenv made in the container."""

    template_fields = (*PythonOperator.template_fields, "requirements")

    def __init__(
        self,
        *,
        requirements: Iterable[str] | str | None = None,
        python_version: str | None = None,
        serializer: str | None = None,
        use_dill: bool = False,
        system_site_packages: bool = True,
        pip_install_options: list[str] | None = None,
        index_urls: Iterable[str] | str | None = None,
        venv_cache_path: str | None = None,
        string_args: Iterable[str] | None = None,
        expect_airflow: bool = True,
        skip_on_exit_code: int | Container[int] | None = None,
        env_vars: dict[str, str] | None = None,
        inherit_env: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if serializer not in (None, "pickle", "cloudpickle", "dill") or use_dill:
            raise DagDefinitionError(
                f"task {self.task_id!r}: arguments and results reach the container as JSON in dockyard; leave "
                "serializer and use_dill unset"
            )
        self.requirements = [requirements] if isinstance(requirements, str) else list(requirements or [])
        self.python_version = python_version
        self.system_site_packages = system_site_packages
        self.pip_install_options = list(pip_install_options or [])
        self.index_urls = [index_urls] if isinstance(index_urls, str) else list(index_urls or [])

    def runner_extra(self, rendered: Mapping[str, Any]) -> dict[str, Any]:
        requirements = rendered.get("requirements", self.requirements)
        lines = [r for item in requirements for r in str(item).splitlines() if r.strip() and not r.startswith("#")]
        return {
            "python": f"python{self.python_version}" if self.python_version else "python3",
            "virtualenv": {
                "requirements": lines,
                "system_site_packages": self.system_site_packages,
                "pip_install_options": self.pip_install_options,
                "index_urls": self.index_urls,
            },
        }


class ExternalPythonOperator(PythonOperator):
    """Airflow's ``ExternalPythonOperator``: the callable runs with the interpreter at ``python``."""

    def __init__(
        self,
        *,
        python: str,
        serializer: str | None = None,
        use_dill: bool = False,
        expect_airflow: bool = True,
        expect_pendulum: bool = False,
        string_args: Iterable[str] | None = None,
        skip_on_exit_code: int | Container[int] | None = None,
        env_vars: dict[str, str] | None = None,
        inherit_env: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not isinstance(python, str) or not python.strip():
            raise DagDefinitionError(
                f"task {self.task_id!r}: python must be the path of an interpreter in the task image, such as "
                f"'/opt/venv/bin/python', got {python!r}"
            )
        self.python = python

    def runner_extra(self, rendered: Mapping[str, Any]) -> dict[str, Any]:
        return {"python": self.python}


class BashDecoratedOperator(PythonOperator):
    """The operator behind ``@task.bash``: the function's result is the Bash command to run."""

    ui_color = "#f0ede4"

    def __init__(
        self,
        *,
        env: dict[str, str] | None = None,
        append_env: bool = False,
        output_encoding: str = "utf-8",
        skip_on_exit_code: int | Container[int] | None = 99,
        cwd: str | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.pop("multiple_outputs", None)  # the result is the last line of output
        super().__init__(**kwargs)
        self.env = env
        self.append_env = append_env
        self.skip_on_exit_code = skip_on_exit_code
        self.cwd = cwd

    def runner_extra(self, rendered: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "skip_on_exit_code": self.skip_on_exit_code,
            "environment": {str(k): str(v) for k, v in (self.env or {}).items()},
            "working_dir": self.cwd,
            "bash_from_result": True,
        }
