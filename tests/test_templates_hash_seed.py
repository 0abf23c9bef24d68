"""A finding's message must not depend on PYTHONHASHSEED: the same template gives the same report in every run.

The names a finding lists come from sets of possible values; a set's order follows the string hash, which the seed
changes, so the analysis sorts them (``templates._strs``). The template below makes one finding list three possible names.
"""

from __future__ import annotations

import os
import subprocess
import sys

TEMPLATE = (
    "{% set ns = namespace({'k': '__globals__'}) %}{{ ns[ns.k] }}\n"
    "{% set ns = namespace([['k', '_environment']]) %}{% macro m() %}{% endmacro %}{{ m[ns.k] }}\n"
    "{% set ns = namespace(k='_') %}{% macro m() %}{% endmacro %}{{ m[ns.k] }}\n"
)

_CHILD = """
import sys
from weightwarden.scan.templates import analyze_template
print(sorted(i.message for i in analyze_template(sys.argv[1])))
"""


def _messages(seed: str) -> str:
    env = dict(os.environ, PYTHONHASHSEED=seed)
    return subprocess.run([sys.executable, "-c", _CHILD, TEMPLATE], capture_output=True, text=True, env=env,
                          check=True, timeout=120).stdout


def test_messages_do_not_depend_on_the_hash_seed() -> None:
    first = _messages("1")
    assert "escapes through" in first and "', '" in first  # several names are listed
    for seed in ("2", "3", "4", "5"):
        assert _messages(seed) == first
