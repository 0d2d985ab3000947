from __future__ import annotations

import datetime as dt
import os
import pickle
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dockyard.container.output import TRUNCATION_NOTE, LineSplitter, decode_result, restricted_loads
from dockyard.errors import OutputError


def split_all(chunks: list[bytes], **kwargs: int) -> list[str]:
    splitter = LineSplitter(**kwargs)
    lines = [line for chunk in chunks for line in splitter.feed(chunk)]
    return lines + splitter.close()


@given(data=st.binary(max_size=400), cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=12))
def test_lines_do_not_depend_on_how_the_output_was_chunked(data: bytes, cuts: list[int]) -> None:
    points = sorted({c for c in cuts if c <= len(data)})
    chunks = [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]
    assert split_all(chunks) == split_all([data])
    whole = data.decode("utf-8", errors="replace")
    expected = whole.split("\n")
    if expected[-1] == "":
        expected.pop()
    assert split_all(chunks) == [line.removesuffix("\r") for line in expected]


def test_multibyte_characters_split_across_chunks_survive() -> None:
    data = "héllo wörld €\n".encode()
    assert split_all([data[:2], data[2:3], data[3:]]) == ["héllo wörld €"]


def test_undecodable_bytes_are_replaced() -> None:
    assert split_all([b"\xff\xfe ok\nend"]) == ["\ufffd\ufffd ok", "end"]


def test_a_very_long_line_is_kept_whole() -> None:
    line = b"x" * 3_000_000
    chunks = [line[i : i + 16384] for i in range(0, len(line), 16384)] + [b"\n"]
    assert split_all(chunks) == ["x" * 3_000_000]


@given(
    data=st.binary(max_size=300),
    cuts=st.lists(st.integers(min_value=0, max_value=300), max_size=12),
    cap=st.integers(min_value=1, max_value=40),
)
def test_a_line_longer_than_the_cap_keeps_its_start_and_says_how_much_was_dropped(
    data: bytes, cuts: list[int], cap: int
) -> None:
    points = sorted({c for c in cuts if c <= len(data)})
    chunks = [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]
    whole = split_all([data], max_line_chars=10**9)
    expected = [
        line if len(line) <= cap else line[:cap] + TRUNCATION_NOTE.format(dropped=len(line) - cap) for line in whole
    ]
    assert split_all(chunks, max_line_chars=cap) == expected


def test_a_fifty_megabyte_line_is_split_in_linear_time_and_bounded_memory() -> None:
    # Re-joining the unfinished line on every chunk took about a minute for this line (bench/output_lines.py).
    splitter = LineSplitter(max_line_chars=1_000_000)
    chunk = b"z" * 16384
    started = time.perf_counter()
    for _ in range(50_000_000 // len(chunk)):
        assert splitter.feed(chunk) == []
    [line] = splitter.feed(b"\n")
    assert time.perf_counter() - started < 10
    dropped = 50_000_000 // len(chunk) * len(chunk) - 1_000_000
    assert line == "z" * 1_000_000 + TRUNCATION_NOTE.format(dropped=dropped)


def test_result_decoding_order() -> None:
    assert decode_result(b'{"rows": 3}', "/o") == {"rows": 3}
    assert decode_result(b"42\n", "/o") == 42
    assert decode_result(b"plain text", "/o") == "plain text"
    value = {
        "when": dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc),
        "items": (1, 2.5, None, True),
        "raw": b"\x00",
        "s": {1},
    }
    assert decode_result(pickle.dumps(value), "/o") == value
    with pytest.raises(OutputError, match="neither JSON, UTF-8 text nor a pickle"):
        decode_result(b"\xff\xfe\x00", "/o")


class Evil:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, ("echo pwned",))


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_a_pickle_that_would_run_code_is_refused(protocol: int) -> None:
    with pytest.raises(OutputError, match=r"refers to (posix|os)\.system, which is not plain data"):
        restricted_loads(pickle.dumps(Evil(), protocol=protocol))


def test_a_pickled_class_instance_is_refused() -> None:
    with pytest.raises(OutputError, match="not plain data"):
        restricted_loads(pickle.dumps(OutputError("x")))


def test_a_truncated_pickle_is_a_clear_error() -> None:
    with pytest.raises(OutputError, match="looks like a pickle but could not be read"):
        restricted_loads(pickle.dumps([1, 2, 3])[:-3])
