"""How fast container output becomes lines: one 50 MB line, and 242 MB in 2 million lines.

The output reaches :class:`~dockyard.container.output.LineSplitter` in 16 KiB chunks, as the engine's
attach stream delivers it. Prints the seconds each case takes and the peak memory the splitter held
(``tracemalloc``), for the splitter of today and, with ``--before``, for the one it replaced (which
re-joined and re-scanned the unfinished line on every chunk: quadratic in the length of a line)::

    .venv/bin/python bench/output_lines.py            # today's splitter
    .venv/bin/python bench/output_lines.py --before   # and the previous one (the long line takes minutes)

Measured on the 2-core build machine (shared): one 50 MB line 60 s before, 0.05 s now (its first 16 Mi
characters kept, the rest counted); 242 MB in 2 million lines 1.4 s before, 1.6 s now.
"""

from __future__ import annotations

import argparse
import codecs
import time
import tracemalloc
from collections.abc import Callable, Iterator

from dockyard.container.output import LineSplitter

CHUNK = 16 * 1024
Splitter = Callable[[], "LineSplitter | QuadraticSplitter"]


class QuadraticSplitter:
    """The splitter before: the unfinished line is joined with every new chunk and searched again."""

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
        return [text] if text else []


def chunks(data: bytes) -> Iterator[bytes]:
    for start in range(0, len(data), CHUNK):
        yield data[start : start + CHUNK]


def measure(make: Splitter, data: bytes) -> tuple[float, int, float]:
    """Seconds, lines produced and peak megabytes allocated while splitting ``data``."""
    tracemalloc.start()
    started = time.perf_counter()
    splitter = make()
    count = 0
    for chunk in chunks(data):
        count += len(splitter.feed(chunk))
    count += len(splitter.close())
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return elapsed, count, peak / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--before", action="store_true", help="also time the previous, quadratic splitter")
    args = parser.parse_args()
    cases = {
        "one 50 MB line": b"x" * 50_000_000 + b"\n",
        "242 MB in 2 million lines": (b"y" * 120 + b"\n") * 2_000_000,
    }
    splitters: dict[str, Splitter] = {"now": LineSplitter}
    if args.before:
        splitters["before"] = QuadraticSplitter
    for case, data in cases.items():
        for name, make in splitters.items():
            seconds, lines, peak = measure(make, data)
            print(f"{case:28} {name:7} {seconds:8.2f} s  {lines:>9} lines  peak {peak:8.1f} MB beyond the input")


if __name__ == "__main__":
    main()
