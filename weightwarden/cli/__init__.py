"""Command-line interface: ``weightwarden`` (see :mod:`weightwarden.cli.main`). Commands parse, call, render."""
