"""Scan cost of large tokenizer.json / merges.txt files (decisions.md "Large JSON files after round 23").

Generates, in a work folder: a Gemma-like tokenizer.json of ``--mb`` MB (262,144-token BPE vocabulary with ``{{`` /
``{%`` / ``}}`` / ``{#`` tokens, merges as pairs) next to a benign tokenizer_config.json; the same tokenizer.json with
a payload template as one merges entry; a merges.txt of the same tokens. Scans each with the CLI
(``--workers 1 --format json``) under every ``--tree NAME=DIR`` (that tree's ``weightwarden/`` first on PYTHONPATH),
interleaved, ``--repeat`` rounds; records wall time, peak RSS (``/usr/bin/time -f %M``), exit code and rule ids.

    python benchmarks/large_json_scan.py --tree main=/tmp/main-tree --tree branch=. --mb 33 --repeat 5
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, median, run_timed, write_result, ww_bin  # noqa: E402

MARKUP = ["{{", "{%", "}}", "{#", "#}", "%}", " {{", "▁{{", "{{-", "{%-", "{{{", "}}}", "{{ x", "{{}}", "{%}"]
PAYLOAD = "{% set g = cycler.__init__.__globals__ %}{{ g.os.system('true') }}"
TEMPLATE = ("{{ bos_token }}{% for message in messages %}<start_of_turn>{{ message['role'] }}\n"
            "{{ message['content'] | trim }}<end_of_turn>\n{% endfor %}")


def tokenizer(size: int) -> dict[str, object]:
    vocab = {t: i for i, t in enumerate(MARKUP)}
    scripts = ("▁w", "ж", "中", "ひ", "é", "x")
    n = 262_144
    for i in range(len(vocab), n):
        token = f"{scripts[i % len(scripts)]}{i:x}"
        vocab[MARKUP[i % len(MARKUP)] + token if i % 97 == 0 else token] = i
    keys = list(vocab)
    merges = [[keys[(i * 7) % n], keys[(i * 13 + 1) % n]] for i in range(max(0, size - 14 * n) // 24)]
    return {"version": "1.0", "added_tokens": [{"id": 0, "content": "<pad>", "special": True}],
            "model": {"type": "BPE", "vocab": vocab, "merges": merges}}


def build(work: Path, mb: int) -> dict[str, Path]:
    doc = tokenizer(mb * 1024 * 1024)
    benign = work / "benign"
    benign.mkdir()
    (benign / "tokenizer.json").write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    (benign / "tokenizer_config.json").write_text(json.dumps({"bos_token": "<bos>", "chat_template": TEMPLATE}))
    evil = work / "evil" / "tokenizer.json"
    evil.parent.mkdir()
    merges = doc["model"]["merges"]  # type: ignore[index]
    merges.insert(len(merges) // 2, ["▁w1", PAYLOAD])
    evil.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    text = work / "text" / "merges.txt"
    text.parent.mkdir()
    text.write_text("#version: 0.2\n" + "\n".join(f"{a} {b}" for a, b in merges if b != PAYLOAD), encoding="utf-8")
    return {"benign_folder": benign, "payload_tokenizer": evil, "merges_txt": text}


def scan(tree: Path, target: Path) -> dict[str, object]:
    env = dict(os.environ, PYTHONPATH=str(tree))
    timer = shutil.which("time") or "/usr/bin/time"
    run = run_timed([timer, "-f", "%M", ww_bin(), "scan", "--workers", "1", "--format", "json", "--fail-on", "low",
                     str(target)], env=env)
    rss_kib = int(run.stderr.strip().splitlines()[-1]) if run.stderr.strip() else -1
    try:
        rules = sorted({f["rule_id"] for f in json.loads(run.stdout)["findings"]})
    except (ValueError, KeyError):
        rules = ["<no report>"]
    return {"seconds": run.seconds, "rc": run.returncode, "peak_rss_mib": round(rss_kib / 1024, 1), "rules": rules}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tree", action="append", required=True, help="NAME=DIR holding weightwarden/")
    ap.add_argument("--mb", type=int, default=33)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--out", default="large_json_scan")
    args = ap.parse_args()
    trees = {name: Path(d).resolve() for name, d in (t.split("=", 1) for t in args.tree)}
    with tempfile.TemporaryDirectory() as tmp:
        targets = build(Path(tmp), args.mb)
        sizes = {k: sum(p.stat().st_size for p in (v.iterdir() if v.is_dir() else [v])) for k, v in targets.items()}
        runs: dict[str, dict[str, list[dict[str, object]]]] = {t: {k: [] for k in targets} for t in trees}
        for r in range(args.repeat):
            order = list(trees) if r % 2 == 0 else list(reversed(trees))
            for name in order:
                for key, target in targets.items():
                    runs[name][key].append(scan(trees[name], target))
    summary = {t: {k: {"median_s": round(median([x["seconds"] for x in v]), 3),  # type: ignore[misc]
                       "median_peak_rss_mib": median([x["peak_rss_mib"] for x in v]),  # type: ignore[misc]
                       "rc": sorted({x["rc"] for x in v}), "rules": v[0]["rules"]}
                   for k, v in per.items()} for t, per in runs.items()}
    path = write_result(args.out, {"machine": machine(), "sizes_bytes": sizes, "repeat": args.repeat,
                                   "summary": summary, "runs": runs})
    print(json.dumps(summary, indent=2))
    print(f"written to {path}")


if __name__ == "__main__":
    main()
