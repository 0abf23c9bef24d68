"""The ``weightwarden`` evals commands (thin shell over :mod:`weightwarden.evals`); click only at the top."""

from __future__ import annotations

import click


def register(group: click.Group) -> None:
    """Add the evals commands to the main ``weightwarden`` group."""
    for command in ():
        group.add_command(command)
