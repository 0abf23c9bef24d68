"""weightwarden: trust open-weight AI models before you load, ship or run them.

The package is a library first; the ``weightwarden`` command is a thin shell over it.
Sub-packages, one job each (see DESIGN.md §3):

- :mod:`weightwarden.artifact` reads any model file or folder safely into an :class:`~weightwarden.artifact.Artifact`.
- :mod:`weightwarden.picklevm` walks pickle programs symbolically, never executing them.
- :mod:`weightwarden.scan` turns an artifact into findings with a catalogue of rules.
- :mod:`weightwarden.report` renders findings as text, JSON or SARIF.

Imports are lazy on purpose: ``weightwarden --help`` must start fast.
"""

__version__ = "0.1.0"
