"""Cost of the registry's incident, freshness and page code (issue 13), one core, no database and no HTTP.

What the server pays per request on top of its store, and a client per check:

1. incidents: validating one record read from JSON (official OSV schema + our checks), its RFC 8785 bytes;
2. propagation: ``incidents_affecting`` for a model four derivations below an incident, in a registry view
   of 2,000 models and 300 incidents;
3. freshness: building + signing one current-release view (python-tuf + Ed25519), verifying one;
4. pages: rendering the index (50 releases, 300 incidents) and one model line's page.

Every figure is operations per CPU-second of this process (``time.process_time``; the machine is shared), the
median of 3 runs, with the load average. Usage: ``.venv/bin/python benchmarks/registry_incidents.py``.
Writes ``benchmarks/results/registry_incidents.json``.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402

from benchmarks.common import machine, write_result  # noqa: E402
from weightwarden.registry.freshness import (  # noqa: E402
    CurrentRelease,
    build_current_view,
    sign_current_view,
    verify_current_view,
    view_bytes,
)
from weightwarden.registry.incidents import (  # noqa: E402
    AffectedModel,
    Incident,
    ModelRecord,
    declared_lineage,
    incident_bytes,
    incidents_affecting,
    new_incident,
)
from weightwarden.registry.web import LogStatus, ReleaseRow, WitnessStatus, render_index, render_model_line  # noqa: E402

MODELS = 2000
INCIDENTS = 300
T0 = datetime(2026, 11, 1, tzinfo=UTC)


@dataclass
class View:
    models: dict[str, ModelRecord]
    records: list[Incident]
    releases: list[ReleaseRow] = field(default_factory=list)

    def incidents(self):
        return self.records

    def model(self, model_id):
        return self.models.get(model_id)

    def parents(self, model):
        return declared_lineage(self)(model)

    def log_status(self):
        return LogStatus("bench/log", 5000, "A" * 44, T0, (WitnessStatus("w1", 5000, T0), WitnessStatus("w2", 4000, T0)))

    def recent_releases(self, limit):
        return self.releases[:limit]

    def model_line(self, model_id):
        return [r for r in self.releases if r.model_id == model_id]


def _view() -> View:
    models = {}
    for i in range(MODELS):  # chains of 5: org{k}/m0 ← m1 ← m2 ← m3 ← m4
        org, depth = divmod(i, 5)
        bases = (f"org{org}/m{depth - 1}",) if depth else ()
        models[f"org{org}/m{depth}"] = ModelRecord(f"org{org}/m{depth}", "1", f"{i:064x}", declared_bases=bases)
    records = [new_incident(summary=f"incident {k}", details="x" * 500, risk_domain="supply_chain.integrity",
                            severity="high", affected=[AffectedModel(f"org{k}/m0", versions=("1",),
                                                                     weights_roots=(f"{5 * k:064x}",))],
                            atlas=("AML.T0058",), harm="serious_harm", now=T0) for k in range(INCIDENTS)]
    releases = [ReleaseRow(m.model_id, "1", T0, i, m.weights_root, "current", None, "pub")
                for i, m in enumerate(list(models.values())[:50])]
    return View(models, records, releases)


def rate(fn, count: int) -> float:
    runs = []
    for _ in range(3):
        start = time.process_time()
        for _ in range(count):
            fn()
        runs.append(count / max(time.process_time() - start, 1e-9))
    return round(statistics.median(runs), 1)


def main() -> int:
    view = _view()
    record = view.records[7]
    osv_text = json.dumps(record.to_osv())
    key = Ed25519PrivateKey.generate()
    release = CurrentRelease("org1/m0", "1", "ab" * 32, 300, weights_root="cd" * 32, log_index=5)
    signed = view_bytes(sign_current_view(build_current_view(release, version=9), key))
    deep = view.models["org3/m4"]
    hits = incidents_affecting(deep, view, view.parents)
    assert len(hits) == 1 and len(hits[0].path) == 4, hits

    figures = {
        "incident_validate_per_s": rate(lambda: Incident.from_osv(json.loads(osv_text)), 300),
        "incident_canonical_bytes_per_s": rate(lambda: incident_bytes(record), 300),
        "propagation_queries_per_s": rate(lambda: incidents_affecting(deep, view, view.parents), 30),
        "view_build_and_sign_per_s": rate(
            lambda: view_bytes(sign_current_view(build_current_view(release, version=9), key)), 300),
        "view_verify_per_s": rate(lambda: verify_current_view(signed, key.public_key(), model_line="org1/m0"), 300),
        "index_page_per_s": rate(lambda: render_index(view), 20),
        "model_page_per_s": rate(lambda: render_model_line(view, "org3/m4"), 30),
    }
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    payload = {"benchmark": "registry_incidents", "commit": commit, "machine": machine(),
               "setup": {"models": MODELS, "incidents": INCIDENTS, "chain_depth": 4, "runs": 3,
                         "unit": "operations per CPU-second, median of 3"},
               "figures": figures,
               "sizes": {"osv_record_bytes": len(incident_bytes(record)), "current_view_bytes": len(signed)}}
    path = write_result("registry_incidents", payload)
    for name, value in figures.items():
        print(f"{name:34} {value:>10,.1f}")
    print(f"written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
