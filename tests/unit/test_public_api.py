"""The public surface: `from dockyard import ...` offers what DAG files use, and nothing is missing from __all__."""

from __future__ import annotations

import dockyard


def test_all_is_complete_and_importable() -> None:
    public = {name for name in vars(dockyard) if (not name.startswith("_") and name[0].isupper()) or name == "chain"}
    public -= {"DockyardError"} - set(dockyard.__all__)
    assert public <= set(dockyard.__all__), public - set(dockyard.__all__)
    for name in dockyard.__all__:
        assert getattr(dockyard, name) is not None
    assert {"DAG", "DockerOperator", "EmptyOperator", "Param", "TriggerRule", "chain", "cross_downstream"} <= set(
        dockyard.__all__
    )
