"""A DAG file's source as the DAG page shows it: secrets written into it replaced by ``***``.

DAG files often carry secrets literally: ``private_environment={"MY_TOKEN": "..."}``,
``password="..."``, ``API_KEY = "..."``. Every viewer can open the DAG page, so before the source is
shown, string literals are masked where they are

- inside the value of a ``private_environment=`` argument (all of it is secret, as the operator says),
- the value of an argument, assignment or dict entry whose name is sensitive (password, token, secret,
  api_key, ... as :func:`dockyard.masking.is_sensitive_name` decides).

A file that does not parse as Python is masked line by line with the same name rule, more coarsely.

Example::

    mask_source('op = DockerOperator(private_environment={"A": "s3cr3t"})')
    # 'op = DockerOperator(private_environment={"A": "***"})'
"""

from __future__ import annotations

import ast
import re

from dockyard import defaults
from dockyard.masking import SENSITIVE_WORDS, is_sensitive_name

MASKED = repr(defaults.MASK).replace("'", '"')
_WORDS = "|".join(SENSITIVE_WORDS)
_LINE = re.compile(
    r"""(?P<head>[\w"']*(?:""" + _WORDS + r""")[\w"']*\s*[:=]\s*)(?P<value>[rbuf]*(?:"[^"\n]*"|'[^'\n]*'))""",
    re.IGNORECASE,
)


def _strings(node: ast.AST) -> list[ast.expr]:
    """Every string literal inside ``node``; an f-string counts as one literal."""
    if isinstance(node, ast.JoinedStr) or (isinstance(node, ast.Constant) and isinstance(node.value, (str, bytes))):
        return [node]
    return [found for child in ast.iter_child_nodes(node) for found in _strings(child)]


def _values(node: ast.expr) -> list[ast.expr]:
    """The string literals of a ``private_environment`` value: a dict's values (its keys are names, not
    secrets), or everything in any other expression."""
    if isinstance(node, ast.Dict):
        return [found for value in node.values for found in _strings(value)]
    return _strings(node)


def _secret_nodes(tree: ast.AST) -> list[ast.expr]:
    found: list[ast.expr] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg is not None:
            if node.arg == "private_environment" or is_sensitive_name(node.arg):
                found.extend(_values(node.value))
        elif isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if isinstance(key, ast.Constant) and isinstance(key.value, str) and is_sensitive_name(key.value):
                    found.extend(_strings(value))
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = [t.id for t in targets if isinstance(t, ast.Name)]
            names += [t.attr for t in targets if isinstance(t, ast.Attribute)]
            if node.value is not None and any(n == "private_environment" or is_sensitive_name(n) for n in names):
                found.extend(_values(node.value))
    return found


def mask_source(source: str) -> str:
    """``source`` with the secret string literals replaced by ``"***"`` (see the module docstring)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return "\n".join(_LINE.sub(lambda m: m.group("head") + MASKED, line) for line in source.split("\n"))
    data = source.encode("utf-8")  # ast offsets count UTF-8 bytes within a line
    starts = [0]
    for line in data.split(b"\n"):
        starts.append(starts[-1] + len(line) + 1)
    cuts = set()
    for node in _secret_nodes(tree):
        if node.end_lineno is None or node.end_col_offset is None:
            continue
        cuts.add((starts[node.lineno - 1] + node.col_offset, starts[node.end_lineno - 1] + node.end_col_offset))
    end_of_last = len(data) + 1
    for begin, end in sorted(cuts, reverse=True):
        if end > end_of_last:  # inside a literal already masked
            continue
        data = data[:begin] + MASKED.encode() + data[end:]
        end_of_last = begin
    return data.decode("utf-8", "replace")
