"""The ``dockyard`` command. Thin: it parses arguments and calls the layers below."""

from dockyard.cli.main import cli, main

__all__ = ["cli", "main"]
