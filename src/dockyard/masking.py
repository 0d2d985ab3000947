"""Secret redaction: every registered secret is replaced by ``***`` wherever a person could read it.

Masking works on whole lines of text (the runtime hands over complete lines), so a secret that the
engine delivered split across two output chunks is still found.

Example::

    masker = SecretsMasker()
    masker.add("hunter22")
    masker.mask("password=hunter22")   # 'password=***'
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from typing import Any

from dockyard import defaults


class SecretsMasker:
    """Holds the secrets of one scope (a task try, a CLI call) and masks text with them."""

    def __init__(self, secrets: Iterable[str] = (), *, min_length: int = defaults.DEFAULT_MIN_SECRET_LENGTH) -> None:
        self._secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._lock = threading.Lock()
        self.min_length = min_length
        for secret in secrets:
            self.add(secret)

    def add(self, secret: object) -> None:
        """Register a secret (and each of its lines, in case it is printed over several lines)."""
        if secret is None:
            return
        text = str(secret)
        candidates = {text, *text.splitlines()}
        with self._lock:
            before = len(self._secrets)
            self._secrets.update(c.strip() for c in candidates if len(c.strip()) >= self.min_length)
            if len(self._secrets) != before:
                ordered = sorted(self._secrets, key=len, reverse=True)
                self._pattern = re.compile("|".join(re.escape(s) for s in ordered))

    def __bool__(self) -> bool:
        return bool(self._secrets)

    def mask(self, text: str) -> str:
        pattern = self._pattern
        if pattern is None or not text:
            return text
        return pattern.sub(defaults.MASK, text)

    def mask_lines(self, lines: list[str]) -> list[str]:
        pattern = self._pattern
        if pattern is None:
            return lines
        return [pattern.sub(defaults.MASK, line) for line in lines]

    def mask_value(self, value: Any) -> Any:
        """Mask every string inside a nested value (lists, dicts, tuples) for display."""
        if isinstance(value, str):
            return self.mask(value)
        if isinstance(value, dict):
            return {k: self.mask_value(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return type(value)(self.mask_value(v) for v in value)
        return value


_registered: set[str] = set()
_registered_lock = threading.Lock()


def mask_secret(secret: object) -> None:
    """Register a value to be masked in every task log and message from now on (Airflow's ``mask_secret``).

    A DAG file calls it for a value it computes; dockyard calls it for connection passwords it hands out.
    """
    if secret is None or str(secret) == "":
        return
    with _registered_lock:
        _registered.add(str(secret))


def registered_secrets() -> list[str]:
    """Every value registered with :func:`mask_secret` in this process (a child hands them to its parent)."""
    with _registered_lock:
        return sorted(_registered)


def masker_for_try(secrets: Iterable[object] = ()) -> SecretsMasker:
    """A masker holding every registered secret plus ``secrets``."""
    with _registered_lock:
        known = list(_registered)
    masker = SecretsMasker(known)
    for secret in secrets:
        masker.add(secret)
    return masker


SENSITIVE_WORDS = (
    "access_token",
    "api_key",
    "apikey",
    "authorization",
    "credential",
    "passphrase",
    "passwd",
    "password",
    "private_key",
    "secret",
    "token",
)
"""A variable or extra field whose name contains one of these is a secret (Airflow's list, roughly)."""


def is_sensitive_name(name: str) -> bool:
    lowered = name.lower()
    return any(word in lowered for word in SENSITIVE_WORDS)
