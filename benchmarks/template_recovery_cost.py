"""Cost and findings of the round-28 template recovery on benign texts (our README and docs, real chat templates).

For each text: the findings of ``scan_paths`` on it (as a .md / .txt file, picked up by content), the time of
that scan, and the time of the recovery step alone (``recover_template``) where it runs (a weak text that Jinja
cannot parse whole). The real templates are also scanned with a stray ``{% endfor %}`` line before them (the text
no longer parses, so the recovery runs on each): findings there are false positives of the recovery. Round 30: each
real template is also scanned inside a README fence (a page that parses: read unit by unit), and one README per
kind of documentation that quotes an attack inside raw or a comment in prose (must stay clean). Round 31: a
Jekyll-style reference table of N template variables inside raw (one paragraph; 200, 1,000, 3,000 rows): it must stay
clean, and its scan time shows whether the hidden-part reading is linear.

Usage: python benchmarks/template_recovery_cost.py [--templates DIR] [--docs FILE...] [--out NAME]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import machine, median, write_result  # noqa: E402

from weightwarden.artifact.jinja_parsing import parses  # noqa: E402
from weightwarden.artifact.recovery import recover_template  # noqa: E402
from weightwarden.scan import scan_paths  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _measure(text: str, name: str, tmp: Path) -> dict[str, object]:
    path = tmp / name
    path.write_text(text, encoding="utf-8")
    t0 = time.perf_counter()
    report = scan_paths([path])
    scan_s = time.perf_counter() - t0
    recover_s = None
    if not parses(text):
        t0 = time.perf_counter()
        recover_template(text)
        recover_s = time.perf_counter() - t0
    findings = [(f.rule_id, f.severity.value, f.location.path) for f in report.findings]
    return {"name": name, "chars": len(text), "scan_s": round(scan_s, 4),
            "recover_s": None if recover_s is None else round(recover_s, 4),
            "findings": findings, "recovered_findings": [f for f in findings if "recovered" in f[2]]}


_ATTACK = "{{ ''.__class__.__mro__[1].__subclasses__() }}"
# Round 30: documentation quoting an attack where no unit a reader extracts leaves the Jinja marker out.
_QUOTED_ATTACKS = {
    "q_raw_inline.md": f"# M\n\n{{{{ messages }}}} and {{% raw %}}{_ATTACK}{{% endraw %}} are documentation.\n",
    "q_raw_lines.md": f"# M\n\nThe attack reads:\n{{% raw %}}\n{_ATTACK}\n{{% endraw %}}\nDo not use it.\n",
    "q_comment.md": f"# M\n\n{{# the known attack is {_ATTACK}, see the advisory #}}\nText.\n",
}


def _reference_table(rows: int) -> str:
    """Round 31's benign page: a table of template variables, one code span per row, wrapped in raw."""
    body = "\n".join(f"| `{{{{ page.field_{i} }}}}` | the value of front-matter field {i} |" for i in range(rows))
    return f"# Site variables\n\n{{% raw %}}\n| Variable | Meaning |\n|---|---|\n{body}\n{{% endraw %}}\n"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--templates", default=str(ROOT / ".." / "shared" / "datasets" / "chat-templates"))
    parser.add_argument("--docs", nargs="*", default=[str(ROOT / "README.md")] + sorted(
        str(p) for p in (ROOT / "docs").glob("*.md")))
    parser.add_argument("--out", default="template_recovery_cost")
    args = parser.parse_args()
    docs, templates, stray, fenced = [], [], [], []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        for doc in args.docs:
            docs.append(_measure(Path(doc).read_text(encoding="utf-8"), Path(doc).name, tmp))
        for i, path in enumerate(sorted(Path(args.templates).glob("*/*.jinja"))):
            text = path.read_text(encoding="utf-8")
            templates.append(_measure(text, f"t{i}_{path.stem}.txt", tmp))
            stray.append(_measure("Notes: a stray `{% endfor %}` here.\n\n" + text, f"s{i}_{path.stem}.md", tmp))
            fenced.append(_measure(f"# M\n\nThe template:\n\n```jinja\n{text}\n```\n", f"f{i}_{path.stem}.md", tmp))
        quoted = [_measure(text, name, tmp) for name, text in _QUOTED_ATTACKS.items()]
        tables = [_measure(_reference_table(rows), f"table{rows}.md", tmp) for rows in (200, 1000, 3000)]
    summary = {
        "docs_with_findings": {d["name"]: d["findings"] for d in docs if d["findings"]},
        "docs_recovered_findings": {d["name"]: d["recovered_findings"] for d in docs if d["recovered_findings"]},
        "templates": len(templates),
        "templates_with_findings": [t["name"] for t in templates if t["findings"]],
        "stray_templates_with_findings": {t["name"]: t["findings"] for t in stray if t["findings"]},
        "recover_s_docs_max": max((d["recover_s"] or 0) for d in docs),
        "recover_s_stray_median": median([t["recover_s"] or 0 for t in stray]),
        "recover_s_stray_max": max((t["recover_s"] or 0) for t in stray),
        "scan_s_stray_median": median([t["scan_s"] for t in stray]),
        "scan_s_templates_median": median([t["scan_s"] for t in templates]),
        "fenced_templates_with_findings": {t["name"]: t["findings"] for t in fenced if t["findings"]},
        "scan_s_fenced_median": median([t["scan_s"] for t in fenced]),
        "scan_s_fenced_max": max(t["scan_s"] for t in fenced),
        "quoted_attacks_with_findings": {t["name"]: t["findings"] for t in quoted if t["findings"]},
        "tables": {t["name"]: (t["findings"], round(float(t["scan_s"]), 3)) for t in tables},
    }
    path = write_result(args.out, {"machine": machine(), "load": os.getloadavg(), "summary": summary,
                                   "docs": docs, "templates": templates, "stray": stray,
                                   "fenced": fenced, "quoted": quoted, "tables": tables})
    print(path)
    for key, value in summary.items():
        print(f"{key}: {value}")


if __name__ == "__main__":
    main()
