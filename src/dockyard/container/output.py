"""What comes out of a container: its output as lines, and the result file read back from it.

:class:`LineSplitter` turns the engine's byte chunks into text lines without ever losing a byte:
a line split across chunks is joined, bytes that are not UTF-8 are shown as U+FFFD, and a line of
up to :data:`MAX_LINE_CHARS` characters is kept whole (a longer one is cut there, and says so).

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

MAX_LINE_CHARS = 16 * 1024 * 1024
"""The most characters of one output line kept in memory (16 Mi, about 16 MB of ASCII).

A container can print a line of any length (a JSON blob, a progress bar without newlines); keeping
all of it would let one task exhaust the orchestrator's memory. The first ``MAX_LINE_CHARS`` are kept,
the rest is counted and dropped, and the line ends with :data:`TRUNCATION_NOTE` saying how much.
"""

TRUNCATION_NOTE = " [dockyard: {dropped} more characters of this line were not kept]"


class LineSplitter:
    """Feed byte chunks, get complete lines (without their ``\\n``; a trailing ``\\r`` is dropped).

    Linear in the output: each chunk is decoded and searched for newlines once, and the unfinished
    line is kept as a list of pieces joined only when its newline arrives (re-joining it on every
    chunk made one 50 MB line cost minutes). A line longer than ``max_line_chars`` keeps its first
    ``max_line_chars`` characters and ends with :data:`TRUNCATION_NOTE`::

        >>> splitter = LineSplitter(max_line_chars=4)
        >>> splitter.feed(b"abcdefg\\nhi")
        ['abcd [dockyard: 3 more characters of this line were not kept]']
        >>> splitter.close()
        ['hi']
    """

    def __init__(self, max_line_chars: int = MAX_LINE_CHARS) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._max = max_line_chars
        self._pieces: list[str] = []
        self._kept = 0
        self._dropped = 0
        self._ends_with_cr = False

    def _keep(self, text: str) -> None:
        """Add ``text`` to the unfinished line, within the cap."""
        if not text:
            return
        self._ends_with_cr = text[-1] == "\r"
        room = self._max - self._kept
        if len(text) > room:
            self._dropped += len(text) - max(room, 0)
            text = text[: max(room, 0)]
        if text:
            self._pieces.append(text)
            self._kept += len(text)

    def _finish(self, last: str) -> str:
        """The unfinished line completed by ``last``; the splitter starts a new line."""
        self._keep(last)
        pieces, dropped = self._pieces, self._dropped
        if self._ends_with_cr:  # "\r\n" ends the line; the "\r" is no part of it
            if dropped:
                dropped -= 1
            else:
                pieces[-1] = pieces[-1][:-1]
        self._pieces, self._kept, self._dropped, self._ends_with_cr = [], 0, 0, False
        if dropped:
            pieces.append(TRUNCATION_NOTE.format(dropped=dropped))
        return "".join(pieces)

    def feed(self, chunk: bytes) -> list[str]:
        text = self._decoder.decode(chunk)
        if "\n" not in text:
            self._keep(text)
            return []
        parts = text.split("\n")
        self._keep(parts[0])
        lines = [self._finish("")]
        rest = parts.pop()
        body = parts[1:]
        if body and max(map(len, body)) > self._max:
            lines.extend(self._finish(line) for line in body)
        else:  # the common case, kept to one pass in C
            lines.extend([line[:-1] if line.endswith("\r") else line for line in body])
        self._keep(rest)
        return lines

    def close(self) -> list[str]:
        self._keep(self._decoder.decode(b"", final=True))
        if not self._pieces and not self._dropped:
            return []
        return [self._finish("")]


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
