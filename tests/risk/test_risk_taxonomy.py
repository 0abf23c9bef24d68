"""Taxonomy, ladder and crosswalk data: stable ids, complete and versioned mappings, malformed data refused,
the docs table generated from the data, the ``weightwarden risk frameworks`` command, and the import map."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from weightwarden.cli.main import main
from weightwarden.core.errors import ConfigError
from weightwarden.risk._toml import parse_toml
from weightwarden.risk.crosswalk import STATUSES, load_crosswalk, markdown, parse_crosswalk
from weightwarden.risk.taxonomy import DOMAIN_IDS, LADDER, Level, domain

ROOT = Path(__file__).resolve().parents[2]
CROSSWALK = ROOT / "weightwarden" / "risk" / "data" / "crosswalk.toml"
FRAMEWORKS = ("openai-pf", "anthropic-rsp", "gdm-fsf", "meta-faf", "shlab-concordia", "eu-gpai-cop",
              "nist-ai-600-1", "mlcommons-ailuminate", "tc260")


def test_domain_ids_are_the_published_contract():
    assert DOMAIN_IDS == ("cyber.offense", "cbrn.biochem", "cbrn.radnuc", "autonomy.airnd", "autonomy.replication",
                          "control.misalignment", "influence.manipulation", "content.harm", "supply_chain.integrity")
    with pytest.raises(ConfigError, match="unknown risk domain 'cyber'"):
        domain("cyber")


def test_ladder_is_ordered_and_defined():
    assert [d.level for d in LADDER] == [Level.L0, Level.L1, Level.L2, Level.L3]
    assert Level.L0 < Level.L1 < Level.L2 < Level.L3 and max(Level) is Level.L3
    assert all(d.meaning and d.consequence for d in LADDER)


def test_crosswalk_is_complete_and_versioned():
    crosswalk = load_crosswalk()
    assert tuple(fw.id for fw in crosswalk.frameworks) == FRAMEWORKS
    assert len(crosswalk.mappings) == len(FRAMEWORKS) * len(DOMAIN_IDS)
    for m in crosswalk.mappings:
        fw = crosswalk.framework(m.framework)
        assert m.framework_version == fw.version and fw.date and m.status in STATUSES
    assert crosswalk.mapping("cyber.offense", "openai-pf").thresholds == ("High", "Critical")
    assert crosswalk.mapping("influence.manipulation", "gdm-fsf").term == "Harmful Manipulation Level 1"
    assert crosswalk.framework("shlab-concordia").level_term(Level.L3).startswith("red line")
    assert crosswalk.to_dict()["schema"] == "weightwarden.crosswalk/v1" and len(crosswalk.digest) == 64


def _mutated(old: str, new: str) -> str:
    text = CROSSWALK.read_text(encoding="utf-8")
    assert old in text
    return text.replace(old, new, 1)


@pytest.mark.parametrize("old,new,reason", [
    ('framework_version = "v2"\nstatus = "threshold"\nterm = "Tracked Category: Cybersecurity"',
     'framework_version = "v1"\nstatus = "threshold"\nterm = "Tracked Category: Cybersecurity"',
     "written against openai-pf 'v1'.*review the mapping"),
    ('status = "tracked"\nterm = "Cyber operations"', 'status = "maybe"\nterm = "Cyber operations"', "status 'maybe'"),
    ('domain = "cyber.offense"\nframework = "gdm-fsf"', 'domain = "cyber.offence"\nframework = "gdm-fsf"',
     "unknown risk domain 'cyber.offence'"),
    ('note = "Assessed capability', 'notes = "Assessed capability', "unknown key.*'notes'"),
    ('schema = "weightwarden.crosswalk/v1"', 'schema = "weightwarden.crosswalk/v9"', "is not weightwarden.crosswalk/v1"),
    ('thresholds = ["High", "Critical"]\nnote = "High: removes', 'thresholds = []\nnote = "High: removes',
     "status 'threshold' needs the thresholds"),
    ('id = "openai-pf"', 'id = "openai-pf"\nid = "again"', "not valid TOML"),
])
def test_malformed_crosswalk_is_refused_with_the_reason(old, new, reason):
    with pytest.raises(ConfigError, match=reason):
        parse_crosswalk(parse_toml(_mutated(old, new).encode(), "crosswalk.toml"))


def test_a_missing_mapping_is_refused():
    text = CROSSWALK.read_text(encoding="utf-8")
    start = text.index('[[mappings]]\ndomain = "supply_chain.integrity"\nframework = "tc260"')
    with pytest.raises(ConfigError, match="no mapping for supply_chain.integrity in tc260"):
        parse_crosswalk(parse_toml(text[:start].encode(), "crosswalk.toml"))


def test_docs_show_the_table_generated_from_the_data():
    doc = (ROOT / "docs" / "risk.md").read_text(encoding="utf-8")
    assert markdown(load_crosswalk()) in doc, "docs/risk.md is out of date: paste risk.crosswalk.markdown() output"


def test_cli_frameworks_table_json_and_errors():
    runner = CliRunner()
    table = runner.invoke(main, ["risk", "frameworks"], standalone_mode=False)
    assert table.exit_code == 0 and table.return_value == 0
    assert "Tracked Category: Cybersecurity" in table.output and "gate development" in table.output
    one = runner.invoke(main, ["risk", "frameworks", "--framework", "eu-gpai-cop", "--json"], standalone_mode=False)
    data = json.loads(one.output)
    assert [f["id"] for f in data["frameworks"]] == ["eu-gpai-cop"] and len(data["mappings"]) == len(DOMAIN_IDS)
    assert all(m["framework_version"] == "final" for m in data["mappings"])
    bad = runner.invoke(main, ["risk", "frameworks", "--framework", "nope"], standalone_mode=False)
    assert bad.return_value == 2 and "error: unknown framework 'nope'" in bad.output


FORBIDDEN = ("weightwarden.audit", "weightwarden.report", "weightwarden.cli", "weightwarden.registry")


def test_risk_imports_nothing_above_it():
    for path in (ROOT / "weightwarden" / "risk").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        names += [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
        assert not [n for n in names if n.startswith(FORBIDDEN)], path
