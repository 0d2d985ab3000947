"""What comes out of a container: its output as lines, and the result file read back from it.

:class:`LineSplitter` turns the engine's byte chunks into text lines without ever losing a byte:
a line split across chunks is joined, bytes that are not UTF-8 are shown as U+FFFD, and a line of
any length is kept whole.

:func:`decode_result` turns a result file into an XCom value: JSON first, then plain text; a pickle
only through :class:`RestrictedUnpickler`, which admits plain data and refuses anything that could
run code on the orchestrator.
"""

from __future__ import annotations

import codecs
import io
import json
import pickle
from typing import Any

from dockyard.errors import OutputError


class LineSplitter:
    """Feed byte chunks, get complete lines (without their ``\\n``; a trailing ``\\r`` is dropped)."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._partial = ""

    def feed(self, chunk: bytes) -> list[str]:
        text = self._partial + self._decoder.decode(chunk)
        if "\n" not in text:
            self._partial = text
            return []
        *lines, self._partial = text.split("\n")
        return [line[:-1] if line.endswith("\r") else line for line in lines]

    def close(self) -> list[str]:
        text = self._partial + self._decoder.decode(b"", final=True)
        self._partial = ""
        if not text:
            return []
        return [text[:-1] if text.endswith("\r") else text]


_SAFE_GLOBALS = {
    ("builtins", "dict"),
    ("builtins", "list"),
    ("builtins", "tuple"),
    ("builtins", "set"),
    ("builtins", "frozenset"),
    ("builtins", "str"),
    ("builtins", "bytes"),
    ("builtins", "bytearray"),
    ("builtins", "int"),
    ("builtins", "float"),
    ("builtins", "complex"),
    ("builtins", "bool"),
    ("datetime", "datetime"),
    ("datetime", "date"),
    ("datetime", "time"),
    ("datetime", "timedelta"),
    ("datetime", "timezone"),
    ("_codecs", "encode"),
    ("collections", "OrderedDict"),
}


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickles plain data only (dict, list, tuple, set, str, bytes, numbers, bool, None, datetime).

    Any other global (a class, a function such as ``os.system``) is refused with :class:`OutputError`,
    so a task's result file can never run code in the orchestrator.
    """

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _SAFE_GLOBALS:
            return super().find_class(module, name)
        raise OutputError(
            f"the pickled result refers to {module}.{name}, which is not plain data; only dict, list, tuple, set, "
            "str, bytes, numbers, bool, None and datetime values can be read back. Write JSON instead."
        )


def restricted_loads(data: bytes) -> Any:
    try:
        return RestrictedUnpickler(io.BytesIO(data)).load()
    except OutputError:
        raise
    except Exception as exc:
        raise OutputError(f"the result file looks like a pickle but could not be read: {exc}") from exc


def decode_result(data: bytes, path: str) -> Any:
    """The XCom value of a result file's bytes: a pickle (restricted), JSON, or text as is."""
    if data[:1] == b"\x80":
        return restricted_loads(data)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise OutputError(
            f"{path} is neither JSON, UTF-8 text nor a pickle; write JSON or text to retrieve_output_path"
        ) from None
    try:
        return json.loads(text)
    except ValueError:
        return text
