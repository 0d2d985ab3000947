"""The wheel and the sdist: built by `python -m build`, installed into a clean venv, run from there.

`python -m build` makes the sdist and then the wheel from that sdist, so a wheel that works proves both.
One test builds and installs once, then checks each thing in turn (parallel test workers would each build).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import requests

from dockyard import __version__
from tests.deploy.common import ROOT, free_port, run, wait_for_http
from tests.helpers import wait_for


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    out = tmp_path / "dist"
    run([sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)], timeout=180)
    return out


@pytest.fixture
def venv(dist: Path, tmp_path: Path) -> Path:
    """A new virtual environment with only the wheel and its default dependencies (no extras)."""
    folder = tmp_path / "venv"
    run([sys.executable, "-m", "venv", str(folder)])
    (wheel,) = dist.glob("dockyard-*.whl")
    # --no-compile: byte-compiling some fifty packages takes time and is not what is checked here
    run([str(folder / "bin" / "python"), "-m", "pip", "install", "-q", "--no-compile", str(wheel)], timeout=240)
    return folder


def test_the_wheel_and_the_sdist(dist: Path, venv: Path, tmp_path: Path) -> None:
    _build_makes_a_wheel_and_an_sdist_of_the_one_version(dist)
    _the_installed_wheel_serves_the_ui_and_ships_the_examples(venv, tmp_path / "standalone")
    _postgresql_without_the_extra_names_the_extra(venv, tmp_path / "postgres")


def _build_makes_a_wheel_and_an_sdist_of_the_one_version(dist: Path) -> None:
    names = sorted(p.name for p in dist.iterdir())
    assert names == [f"dockyard-{__version__}-py3-none-any.whl", f"dockyard-{__version__}.tar.gz"]
    with zipfile.ZipFile(dist / names[0]) as wheel:
        files = wheel.namelist()
    assert len(files) == len(set(files))
    for expected in (
        "dockyard/web/static/app.js",
        "dockyard/web/templates/base.html",
        "dockyard/store/migrations/env.py",
        "dockyard/example_dags/hello_dockyard.py",
    ):
        assert expected in files


def _the_installed_wheel_serves_the_ui_and_ships_the_examples(venv: Path, tmp_path: Path) -> None:
    tmp_path.mkdir()
    env = {
        "PATH": f"{venv / 'bin'}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "DOCKYARD_HOME": str(tmp_path / "home"),
        "DOCKYARD_WEB_PORT": str(free_port()),
        # No engine at this address: the example DAGs are parsed and shown, none of their tasks can start.
        "DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock",
    }
    dockyard = str(venv / "bin" / "dockyard")
    assert run([dockyard, "--version"], env=env).stdout.split()[-1] == __version__
    process = subprocess.Popen(
        [dockyard, "standalone"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        base = f"http://127.0.0.1:{env['DOCKYARD_WEB_PORT']}"
        wait_for_http(f"{base}/api/v1/health", timeout=45)
        assert "dockyard" in requests.get(f"{base}/login", timeout=5).text
        static = requests.get(f"{base}/static/app.js", timeout=5)
        assert static.status_code == 200 and static.text.strip()
        password = (tmp_path / "home" / "standalone_admin_password.txt").read_text().strip()

        def listed() -> set[str]:  # the web server answers at once; the DAGs appear after the first parse
            dags = requests.get(f"{base}/api/v1/dags", auth=("admin", password), timeout=5)
            return {d["dag_id"] for d in dags.json()["dags"]}

        wait_for(lambda: "hello_dockyard" in listed(), 60, "the example DAGs to be stored")
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    assert "using the example DAGs in" in output
    assert str(venv) in output  # the examples came from the installed wheel, not from this checkout


def _postgresql_without_the_extra_names_the_extra(venv: Path, tmp_path: Path) -> None:
    tmp_path.mkdir()
    env = {
        "PATH": f"{venv / 'bin'}:/usr/bin:/bin",
        "DOCKYARD_HOME": str(tmp_path),
        "DOCKYARD_DATABASE_URL": "postgresql+psycopg://dockyard:secret@127.0.0.1:5432/dockyard",
    }
    done = run([str(venv / "bin" / "dockyard"), "db", "check"], env=env, check=False)
    assert done.returncode == 1
    assert "psycopg is not installed" in done.stderr
    assert "pip install 'dockyard[postgres]'" in done.stderr
    assert "secret" not in done.stderr
    assert "Traceback" not in done.stderr
