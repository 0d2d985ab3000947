"""Images the deployment tests build here, since nothing can be pulled: each from this machine's Debian files.

- a Python base: ``dockyard/python`` (scripts/build-images) plus the few glibc and libgcc libraries that
  wheels with compiled code link against and that python:3.11-slim has;
- dockyard itself, from the repository's Dockerfile on that base, installing from a local wheelhouse;
- HAProxy and PostgreSQL, from Debian's binaries and the libraries they link against, laid out like the
  official images (paths, users, the PostgreSQL entrypoint's POSTGRES_* variables) so that
  deploy/compose.yaml runs them unchanged.

Every image is tagged with the session's token and labelled ``dockyard.test``; the fixture removes them.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

from tests.deploy.common import ROOT, run
from tests.helpers import TEST_LABEL, TOKEN

PYTHON_IMAGE = "dockyard/python:latest"
EXTRA_LIBRARIES = ("libgcc_s.so.1", "libdl.so.2", "libpthread.so.0", "librt.so.1")
LIBRARY_DIR = Path("/lib/x86_64-linux-gnu")

POSTGRES_ENTRYPOINT = r"""#!/bin/sh
# The official image's contract, in short: POSTGRES_USER, POSTGRES_DB, POSTGRES_PASSWORD_FILE, PGDATA.
set -eu
: "${PGDATA:=/var/lib/postgresql/data}"
bin=/usr/lib/postgresql/@PG_MAJOR@/bin
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    mkdir -p "$PGDATA" && chown postgres:postgres "$PGDATA" && chmod 700 "$PGDATA"
    cp "$POSTGRES_PASSWORD_FILE" /tmp/pwfile && chown postgres /tmp/pwfile
    su postgres -s /bin/sh -c "$bin/initdb -D '$PGDATA' -U '$POSTGRES_USER' --pwfile=/tmp/pwfile \
        --auth-host=scram-sha-256 --auth-local=trust --encoding=UTF8 --locale=C" >/dev/null
    rm -f /tmp/pwfile
    echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
    echo "CREATE DATABASE \"$POSTGRES_DB\" OWNER \"$POSTGRES_USER\"" \
        | su postgres -s /bin/sh -c "$bin/postgres --single -D '$PGDATA' postgres" >/dev/null
fi
exec su postgres -s /bin/sh -c "exec $bin/postgres -D '$PGDATA' -c listen_addresses='*' \
    -c unix_socket_directories=/var/run/postgresql"
"""


def _tag(name: str) -> str:
    return f"dockyard-test/{name}:{TOKEN}"


def _libraries(*binaries: Path) -> set[Path]:
    found: set[Path] = set()
    for binary in binaries:
        out = run(["ldd", str(binary)], check=False).stdout
        for line in out.splitlines():
            parts = line.split()
            if "=>" in parts and len(parts) > 2 and parts[2].startswith("/"):
                found.add(Path(parts[2]))
            elif parts and parts[0].startswith("/"):
                found.add(Path(parts[0]))
    return found


Files = dict[str, "Path | bytes | str"]
"""Path in the image -> a host file or folder to copy, the content of a new file, or (a str) a symlink's target."""


def _import(name: str, files: Files, changes: list[str], owners: dict[str, int]) -> str:
    """``docker import`` a root file system made of ``files``, owned by root unless ``owners`` says otherwise."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", dereference=True) as tar:
        made: set[str] = set()

        def folder(path: str) -> None:
            parts = path.strip("/").split("/")
            for depth in range(1, len(parts) + 1):
                sub = "/".join(parts[:depth])
                if sub not in made:
                    made.add(sub)
                    info = tarfile.TarInfo(sub)
                    info.type = tarfile.DIRTYPE
                    info.mode = 0o1777 if sub == "tmp" else 0o755
                    info.uid = info.gid = owners.get("/" + sub, 0)
                    tar.addfile(info)

        for target, source in sorted(files.items()):
            if target.endswith("/"):
                folder(target)
                continue
            folder(str(Path(target).parent))
            if isinstance(source, str):
                info = tarfile.TarInfo(target.lstrip("/"))
                info.type, info.linkname = tarfile.SYMTYPE, source
                tar.addfile(info)
            elif isinstance(source, bytes):
                info = tarfile.TarInfo(target.lstrip("/"))
                info.size, info.mode = len(source), 0o755
                tar.addfile(info, io.BytesIO(source))
            else:
                tar.add(str(source), arcname=target.lstrip("/"), recursive=True)
    tag = _tag(name)
    args = ["docker", "import"]
    for change in [*changes, f"LABEL {TEST_LABEL}={TOKEN}"]:
        args += ["-c", change]
    subprocess.run([*args, "-", tag], input=buffer.getvalue(), check=True, capture_output=True, timeout=120)
    return tag


def _busybox() -> Files:
    """A static busybox with its applets: the shell and tools an entrypoint needs."""
    busybox = Path("/bin/busybox")
    applets = run([str(busybox), "--list"]).stdout.split()
    files: Files = {"/bin/busybox": busybox, "/tmp/": b""}
    files.update({f"/bin/{applet}": "busybox" for applet in applets if applet != "busybox"})
    return files


def build_haproxy() -> str:
    """Debian's HAProxy where the official image keeps it, run as its user ``haproxy`` (uid 99)."""
    binary = Path("/usr/sbin/haproxy")
    files: Files = {"/usr/local/sbin/haproxy": binary, "/tmp/": b""}
    files.update({str(lib): lib for lib in _libraries(binary)})
    files["/etc/passwd"] = b"root:x:0:0:root:/root:/bin/sh\nhaproxy:x:99:99:haproxy:/var/lib/haproxy:/bin/false\n"
    files["/etc/group"] = b"root:x:0:\nhaproxy:x:99:\n"
    files["/usr/local/etc/haproxy/"] = b""
    return _import(
        "haproxy",
        files,
        ["USER haproxy", 'CMD ["/usr/local/sbin/haproxy", "-f", "/usr/local/etc/haproxy/haproxy.cfg", "-db"]'],
        {},
    )


def build_postgres() -> str:
    """Debian's PostgreSQL (the newest installed) with an entrypoint that honours the official image's
    POSTGRES_* variables."""
    home = max(Path("/usr/lib/postgresql").iterdir(), key=lambda path: int(path.name))
    binaries = [home / "bin" / name for name in ("postgres", "initdb", "pg_isready")]
    files = _busybox()
    for binary in binaries:
        files[str(binary)] = binary
    # The server's own modules (PL/pgSQL, text search, encodings); not the JIT bitcode or the build files.
    for module in (home / "lib").glob("*.so"):
        if not module.name.startswith("llvmjit"):
            files[str(module)] = module
    files[f"/usr/share/postgresql/{home.name}"] = Path(f"/usr/share/postgresql/{home.name}")
    files["/usr/share/zoneinfo"] = Path("/usr/share/zoneinfo")
    files.update({str(lib): lib for lib in _libraries(*binaries)})
    files["/etc/passwd"] = b"root:x:0:0:root:/root:/bin/sh\npostgres:x:999:999:postgres:/var/lib/postgresql:/bin/sh\n"
    files["/etc/group"] = b"root:x:0:\npostgres:x:999:\n"
    files["/usr/local/bin/docker-entrypoint.sh"] = POSTGRES_ENTRYPOINT.replace("@PG_MAJOR@", home.name).encode()
    files["/usr/local/bin/pg_isready"] = f'#!/bin/sh\nexec {home}/bin/pg_isready "$@"\n'.encode()
    files["/var/lib/postgresql/data/"] = b""
    files["/var/run/postgresql/"] = b""
    owners = {"/var/lib/postgresql": 999, "/var/lib/postgresql/data": 999, "/var/run/postgresql": 999}
    return _import(
        "postgres",
        files,
        [
            "ENV PATH=/usr/local/bin:/usr/bin:/bin",
            "ENV PGDATA=/var/lib/postgresql/data",
            'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]',
        ],
        owners,
    )


def build_dockyard(workdir: Path) -> str:
    """dockyard from the repository's Dockerfile, on ``dockyard/python`` plus libgcc and friends, offline."""
    base_dir = workdir / "base"
    base_dir.mkdir()
    for name in EXTRA_LIBRARIES:
        shutil.copy(LIBRARY_DIR / name, base_dir / name)
    (base_dir / "Dockerfile").write_text(f"FROM {PYTHON_IMAGE}\nCOPY *.so* {LIBRARY_DIR}/\n")
    base = _tag("python-base")
    run(["docker", "build", "-q", "--network", "none", "--label", f"{TEST_LABEL}={TOKEN}", "-t", base, str(base_dir)])
    # The wheelhouse beside the Dockerfile: pip itself, the build backend and every dependency.
    context = workdir / "context"
    context.mkdir()
    for name in ("Dockerfile", ".dockerignore", "pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, context / name)
    shutil.copytree(ROOT / "src", context / "src", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "examples" / "dags", context / "examples" / "dags")
    wheels = context / "wheelhouse"
    run(
        [sys.executable, "-m", "pip", "download", "-q", "-d", str(wheels), "pip", "hatchling", f"{context}[postgres]"],
        timeout=240,
    )
    for built in wheels.glob("dockyard-*"):
        built.unlink()  # pip download builds dockyard too; the Dockerfile builds it from the source instead
    image = _tag("dockyard")
    run(
        [
            "docker", "build", "-q", "--network", "none", "--build-arg", f"BASE_IMAGE={base}",
            "--label", f"{TEST_LABEL}={TOKEN}", "-t", image, str(context),
        ],
        timeout=400,
    )  # fmt: skip
    run(["docker", "image", "rm", base])  # only a tag now: its layers go when the dockyard image goes
    return image


def image_size_mb(image: str) -> float:
    return int(run(["docker", "image", "inspect", "-f", "{{.Size}}", image]).stdout) / 1e6


def remove_images(*images: str) -> None:
    for image in images:
        run(["docker", "image", "rm", "-f", image], check=False)
