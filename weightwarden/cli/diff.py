"""The ``weightwarden`` diff commands (thin shell over :mod:`weightwarden.lineage.diff`); click only at the top."""

from __future__ import annotations

import click


def register(group: click.Group) -> None:
    """Add the diff commands to the main ``weightwarden`` group."""
    for command in ():
        group.add_command(command)
