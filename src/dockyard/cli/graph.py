"""A DAG's graph in Graphviz's DOT language (``dags show``), and saved as an image by Graphviz's ``dot``.

Airflow's ``dags show`` prints the same kind of source and ``--save`` renders it by the file's ending, so
``dockyard dags show etl | dot -Tsvg > etl.svg`` works as it does there.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from dockyard.errors import ConfigError
from dockyard.serialized import SerializedDag
from dockyard.states import STATE_COLOURS

SOURCE_ENDINGS = (".dot", ".gv")
"""Endings saved as DOT source; every other ending is a format ``dot -T`` draws (png, svg, pdf, ...)."""


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def dot_source(dag: SerializedDag, states: dict[str, str | None] | None = None) -> str:
    """The DAG as DOT: one box per task (labelled with its operator), one edge per dependency, left to right.

    With ``states`` (task id to state) each box takes the colour of its task's state, as in the web UI.
    """
    lines = [f"digraph {_quoted(dag.dag_id)} {{", f"\tgraph [label={_quoted(dag.dag_id)} labelloc=t rankdir=LR]"]
    for task in dag.tasks:
        colour = STATE_COLOURS.get((states or {}).get(task.task_id) or "", "#f0f0f0")
        lines.append(
            f"\t{_quoted(task.task_id)} [label={_quoted(task.task_id)} tooltip={_quoted(task.operator)} "
            f'shape=rectangle style="filled,rounded" fillcolor={_quoted(colour)}]'
        )
    for task in dag.tasks:
        for upstream in task.upstream:
            lines.append(f"\t{_quoted(upstream)} -> {_quoted(task.task_id)}")
    lines.append("}")
    return "\n".join(lines)


def save_graph(source: str, path: Path) -> None:
    """Write ``source`` to ``path``: as is for ``.dot``/``.gv``, else drawn by ``dot`` in the ending's format."""
    ending = path.suffix.lower()
    if ending in SOURCE_ENDINGS:
        path.write_text(source + "\n")
        return
    if not ending:
        raise ConfigError(f"{path} has no file ending; name the format, e.g. {path}.png, {path}.svg or {path}.dot")
    program = shutil.which("dot")
    if program is None:
        raise ConfigError(
            f"saving {path} needs Graphviz's `dot`, which is not installed (Debian: apt-get install graphviz); "
            f"or save the source with --save {path.with_suffix('.dot')}"
        )
    done = subprocess.run(
        [program, f"-T{ending[1:]}", "-o", str(path)], input=source, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise ConfigError(f"Graphviz's dot could not write {path}: {done.stderr.strip()}")
