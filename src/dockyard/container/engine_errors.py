"""The one place where docker-py's and requests' errors become :mod:`dockyard.errors`.

Every call the runtime makes to an engine runs inside :func:`engine_errors`; nothing else in dockyard
catches a docker-py or requests exception. The kind of error decides the class (a missing image, a
missing container, a timeout, an engine that stopped answering), never the words of its message::

    with engine_errors(f"the engine could not create a container of {spec.image}"):
        client.create_container(...)

docker-py is imported here when the first call is made, not when dockyard is imported.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator

from dockyard import defaults
from dockyard.errors import (
    ConfigError,
    ContainerSpecError,
    DockyardError,
    EngineError,
    EngineNotFoundError,
    EngineTimeoutError,
    EngineUnreachableError,
    ImageNotFoundError,
)


def explain(exc: BaseException) -> str:
    """The engine's own words for an error (its ``message`` field), else the exception's text."""
    explanation = getattr(exc, "explanation", None)
    return str(explanation or exc).strip() or type(exc).__name__


@contextlib.contextmanager
def engine_errors(failure: str, *, secrets: Iterable[str] = ()) -> Iterator[None]:
    """Translate docker-py and requests errors raised in the block into :mod:`dockyard.errors`.

    ``failure`` begins the message (what did not happen); the engine's reason follows. ``secrets``
    (e.g. a registry password) are masked in the message.
    """
    secrets = tuple(secrets)
    import docker.errors  # loaded with the first engine call (see the module docstring)
    import requests

    try:
        yield
    except DockyardError:
        raise
    except docker.errors.ImageNotFound as exc:
        raise ImageNotFoundError(_message(failure, exc, secrets), status=404) from exc
    except docker.errors.NotFound as exc:
        raise EngineNotFoundError(_message(failure, exc, secrets), status=404) from exc
    except docker.errors.APIError as exc:
        raise EngineError(_message(failure, exc, secrets), status=exc.status_code) from exc
    except docker.errors.TLSParameterError as exc:
        raise ConfigError(
            f"{failure}: TLS options for the engine are not usable ({explain(exc)}); give tls_ca_cert, "
            "tls_client_cert and tls_client_key as paths to existing PEM files"
        ) from exc
    except docker.errors.InvalidArgument as exc:
        raise ContainerSpecError(_message(failure, exc, secrets)) from exc
    except requests.exceptions.ConnectionError as exc:  # a ConnectTimeout too: the engine is not there
        raise EngineUnreachableError(_message(failure, exc, secrets, "the engine did not answer")) from exc
    except requests.exceptions.Timeout as exc:
        raise EngineTimeoutError(_message(failure, exc, secrets)) from exc
    except (docker.errors.DockerException, requests.RequestException) as exc:
        raise EngineError(_message(failure, exc, secrets)) from exc


def _mask(exc: BaseException, secrets: Iterable[str]) -> str:
    text = explain(exc)
    for secret in secrets:
        if secret:
            text = text.replace(secret, defaults.MASK)
    return text


def _message(failure: str, exc: BaseException, secrets: Iterable[str], what: str = "") -> str:
    reason = _mask(exc, secrets)
    return f"{failure}: {what} ({reason})" if what else f"{failure}: {reason}"
