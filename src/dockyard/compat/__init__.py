"""Compatibility layers: running DAG files written for other orchestrators, unchanged."""
