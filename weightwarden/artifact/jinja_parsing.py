"""The Jinja environment the template analysis parses with, and the one question lower layers ask of it.

It lives below ``scan`` because the readers (``artifact``) must decide whether a string found in a large JSON or
text file would be judged as a template at all (``parses``), with exactly the parser the template rule uses; the
rule itself (``weightwarden.scan.templates``) builds its syntax trees with the same environment. It never
renders anything.
"""

from __future__ import annotations

from functools import cache
from typing import Any


@cache
def analysis_environment() -> Any:
    """The parsing environment (built once: parsing only, it never renders)."""
    from jinja2 import nodes
    from jinja2.ext import Extension, loopcontrols
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class GenerationTag(Extension):
        """transformers' ``{% generation %}...{% endgeneration %}`` (assistant-token masks): keep the body."""

        tags = {"generation"}

        def parse(self, parser: Any) -> Any:
            lineno = next(parser.stream).lineno
            body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
            return nodes.Scope(body, lineno=lineno)

    return ImmutableSandboxedEnvironment(extensions=[loopcontrols, GenerationTag])


def parses(source: str) -> bool:
    """True when Jinja parses ``source`` (the analysis environment). Jinja's own lexer is lazy and its parser
    stops at the first error, so a long text that fails early (a vocabulary quoting "{{", a README) costs
    little; the fast tokenizer of :func:`_parse` would tokenize all of it first."""
    try:
        analysis_environment().parse(source)
    except Exception:  # noqa: BLE001 - any failure: Jinja renders nothing of it
        return False
    return True
