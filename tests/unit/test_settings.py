from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.errors import ConfigError
from dockyard.settings import Settings


def test_defaults_and_overrides(tmp_path: Path) -> None:
    settings = Settings.from_env({"DOCKYARD_HOME": str(tmp_path)})
    assert settings.home == tmp_path
    assert settings.dags_folder == tmp_path / "dags"
    assert settings.logs_folder == tmp_path / "logs"
    assert settings.default_docker_url == "unix:///var/run/docker.sock"
    assert settings.stop_grace_seconds == 10
    other = Settings.from_env(
        {"DOCKYARD_HOME": str(tmp_path), "DOCKYARD_DAGS_FOLDER": "/srv/dags", "DOCKER_HOST": "tcp://h:2376"}
    )
    assert other.dags_folder == Path("/srv/dags")
    assert other.default_docker_url == "tcp://h:2376"


def test_bad_values_are_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="DOCKYARD_STOP_GRACE_SECONDS=.soon. is not a whole number of 0 or more"):
        Settings.from_env({"DOCKYARD_HOME": str(tmp_path), "DOCKYARD_STOP_GRACE_SECONDS": "soon"})
    afile = tmp_path / "file"
    afile.write_text("")
    with pytest.raises(ConfigError, match="is a file; point it at a folder"):
        Settings.from_env({"DOCKYARD_HOME": str(afile)})
