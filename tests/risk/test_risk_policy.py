"""Policies as data: the built-in ones load, and every kind of malformed policy is a ConfigError that names
the place and the reason."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from weightwarden.cli.main import main
from weightwarden.core.errors import ConfigError
from weightwarden.risk.policy import BUILTIN_POLICIES, Decision, ReleaseMode, load_policy
from weightwarden.risk.taxonomy import Level

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = ROOT / "weightwarden" / "risk" / "data" / "policies" / "default.toml"


@pytest.mark.parametrize("name", BUILTIN_POLICIES)
def test_builtin_policies_load_with_provenance(name):
    policy = load_policy(name)
    assert policy.id == name and policy.gates and len(policy.digest) == 64
    assert all(t.provenance.strip() for t in policy.thresholds)
    assert policy.to_dict()["schema"] == "weightwarden.risk-policy/v1"


def test_default_policy_shape():
    policy = load_policy()
    assert policy.release_mode is ReleaseMode.OPEN_WEIGHTS
    assert {g.on_fail for g in policy.gates} == {Decision.STAGED, Decision.WITHHOLD}
    # knowledge proxies raise at most L1 in the default policy
    assert all(t.level is Level.L1 for t in policy.thresholds if t.metric == "chance_corrected_accuracy")
    assert load_policy("frontier-safety-framework-like").mirrors.startswith("Google DeepMind Frontier Safety")
    assert load_policy("tc260-gbt45654-like").evidence.min_n == 500


def _policy_with(tmp_path: Path, old: str, new: str) -> Path:
    text = DEFAULT.read_text(encoding="utf-8")
    assert old in text, old
    path = tmp_path / "policy.toml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


@pytest.mark.parametrize("old,new,reason", [
    ('min_n = 50', 'min_n = "fifty"', r"evidence: 'min_n' must be an integer, got a string"),
    ('min_n = 50', 'min_n = 50\nmin_m = 3', r"evidence: unknown key\(s\) 'min_m'"),
    ('level = "L1"\nat_least = 0.60', 'level = "L7"\nat_least = 0.60', r"thresholds\[0\]: unknown level 'L7'"),
    ('domain = "cyber.offense"\nkind = "capability"\nbenchmark = "cybermetric*"',
     'domain = "cyber"\nkind = "capability"\nbenchmark = "cybermetric*"', r"thresholds\[0\]: unknown risk domain"),
    ('provenance = "weightwarden default (assumption): 70%', 'provenance = " "\nnote = "x (assumption): 70%',
     r"thresholds\[0\]: unknown key"),
    ('at_least = 0.50\nprovenance = "weightwarden default (assumption): half',
     'at_least = 0.05\nprovenance = "weightwarden default (assumption): half', r"L2 at 0.05 is below L1 at 0.1"),
    ('on_fail = "withhold"', 'on_fail = "open"', "a failed gate cannot open a release"),
    ('on_fail = "withhold"', 'on_fail = "maybe"', r"'maybe' is not one of open, staged, withhold"),
    ('condition = { max_level = "L1", domains = ["supply_chain.integrity"], if_not_assessed = "pass" }',
     'condition = { max_level = "L1", assessed = true, domains = ["supply_chain.integrity"] }',
     "exactly one of .* \\(found max_level, assessed\\)"),
    ('condition = { max_level = "L1", domains = ["supply_chain.integrity"], if_not_assessed = "pass" }',
     'condition = { max_level = "L1", domains = [], if_not_assessed = "pass" }', "'domains' is empty"),
    ('condition = { max_level = "L1", domains = ["supply_chain.integrity"], if_not_assessed = "pass" }',
     'condition = { max_level = "L1", domains = ["supply_chain.integrity"], if_not_assessed = "skip" }',
     "if_not_assessed must be pass or fail"),
    ('release_mode = "open-weights"', 'release_mode = "weights"', "'weights' is not one of open-weights, api"),
    ('schema = "weightwarden.risk-policy/v1"', 'schema = "weightwarden.risk-policy/v0"', "is not weightwarden.risk-policy/v1"),
    ('critical = "L3", high = "L3", medium = "L1"', 'critical = "L1", high = "L3", medium = "L1"',
     "a more severe finding must not give a lower level"),
    ('id = "default"', 'id = "default"\nid = "twice"', "not valid TOML"),
])
def test_malformed_policies_are_refused_with_the_reason(tmp_path, old, new, reason):
    path = _policy_with(tmp_path, old, new)
    with pytest.raises(ConfigError, match=reason) as info:
        load_policy(path)
    assert str(path) in info.value.reason


def test_deep_conditions_oversized_and_missing_files(tmp_path):
    deep = "{ max_level = \"L0\", domains = [\"*\"] }"
    for _ in range(10):
        deep = f"{{ all_of = [{deep}] }}"
    path = _policy_with(tmp_path, 'condition = { max_level = "L1", domains = ["supply_chain.integrity"], '
                                  'if_not_assessed = "pass" }', f"condition = {deep}")
    with pytest.raises(ConfigError, match="nested deeper than 8"):
        load_policy(path)
    big = tmp_path / "big.toml"
    big.write_bytes(b"# " + b"x" * (1024 * 1024 + 10))
    with pytest.raises(ConfigError, match="over the 1048576-byte limit"):
        load_policy(big)
    with pytest.raises(ConfigError, match="neither a built-in policy"):
        load_policy(tmp_path / "absent.toml")
    binary = tmp_path / "bin.toml"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_policy(binary)


def test_cli_policy_shows_and_checks(tmp_path):
    runner = CliRunner()
    shown = runner.invoke(main, ["risk", "policy", "frontier-safety-framework-like"], standalone_mode=False)
    assert shown.return_value == 0 and "no-ccl" in shown.output and "FSF v3" in shown.output
    bad = _policy_with(tmp_path, 'on_fail = "withhold"', 'on_fail = "open"')
    result = runner.invoke(main, ["risk", "policy", str(bad)], standalone_mode=False)
    assert result.return_value == 2 and "error:" in result.output and "cannot open a release" in result.output
