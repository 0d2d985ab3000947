# dockyard's image: the scheduler, the web server, or both (`standalone`), as a non-root user.
#
#   docker build -t dockyard .                                    # from python:3.11-slim
#   docker build --build-arg BASE_IMAGE=my/python:3.11 -t dockyard .
#
# Offline builds: put every wheel pip needs (pip itself, hatchling and dockyard's dependencies) in
# wheelhouse/ beside this file; pip then installs from there only (pip download -d wheelhouse ...).
ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS build
WORKDIR /src
# wheelhous[e] matches the optional wheelhouse/ folder, or nothing (pyproject.toml keeps the COPY from
# being empty; pip ignores it there).
COPY pyproject.toml wheelhous[e] /wheelhouse/
COPY pyproject.toml README.md /src/
COPY src /src/src
COPY examples/dags /src/examples/dags
# A base image without pip (a minimal Python) gets pip from the wheelhouse, run straight from its wheel.
RUN set -eu; \
    if python3 -m pip --version >/dev/null 2>&1; then pip="python3 -m pip"; \
    else pip="python3 $(ls /wheelhouse/pip-*.whl | head -n 1)/pip"; fi; \
    offline=""; if ls /wheelhouse/*.whl >/dev/null 2>&1; then offline="--no-index --find-links /wheelhouse"; fi; \
    python3 -m venv --without-pip /opt/dockyard; \
    $pip --python /opt/dockyard/bin/python install --no-cache-dir --disable-pip-version-check $offline "/src[postgres]"; \
    /opt/dockyard/bin/dockyard --version

FROM ${BASE_IMAGE}
ARG UID=10001
COPY --from=build /opt/dockyard /opt/dockyard
# A plain passwd line rather than useradd: the same step works on Debian and on busybox-based images.
RUN set -eu; \
    echo "dockyard:x:${UID}:${UID}:dockyard:/var/lib/dockyard:/bin/sh" >>/etc/passwd; \
    echo "dockyard:x:${UID}:" >>/etc/group; \
    mkdir -p /var/lib/dockyard /opt/dags; \
    chown "${UID}:${UID}" /var/lib/dockyard /opt/dags
ENV PATH=/opt/dockyard/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    HOME=/var/lib/dockyard \
    DOCKYARD_HOME=/var/lib/dockyard \
    DOCKYARD_DAGS_FOLDER=/opt/dags \
    DOCKYARD_WEB_HOST=0.0.0.0 \
    DOCKYARD_WEB_PORT=8080
# DOCKYARD_HOME keeps task logs (and SQLite, the Fernet key and the web secret when no others are given):
# a volume, so that they outlive the container.
VOLUME ["/var/lib/dockyard", "/opt/dags"]
USER ${UID}:${UID}
WORKDIR /var/lib/dockyard
EXPOSE 8080
# The web server's health (a scheduler container overrides this with `dockyard scheduler --health-check`).
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD python3 -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/api/v1/health' % os.environ.get('DOCKYARD_WEB_PORT', '8080'), timeout=4)"
ENTRYPOINT ["dockyard"]
CMD ["standalone"]
