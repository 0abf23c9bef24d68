"""Incident records: OSV validity (official schema), lifecycle, EU CoP due dates, CSAF/OpenVEX, propagation."""

from __future__ import annotations

import copy
import itertools
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path

import jsonschema
import pytest

from weightwarden.core.errors import WeightwardenError
from weightwarden.registry.incidents import (
    ALLOWED_TRANSITIONS,
    EU_COP_DEADLINES,
    AffectedModel,
    Derivation,
    Incident,
    IncidentError,
    IncidentState,
    LineagePolicy,
    ModelRecord,
    combined_lineage,
    current_records,
    declared_lineage,
    derivation_from_report,
    incident_bytes,
    incidents_affecting,
    load_incident,
    measured_lineage,
    new_incident,
    reporting_deadlines,
    to_csaf,
    to_openvex,
    transition,
)

T0 = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
ROOT_BASE = "a1" * 32
ROOT_FT = "b2" * 32
FILE_DIGEST = "sha256:" + "c3" * 32


def _official_osv_validator():
    # The vendored file is the official schema unchanged; validate with jsonschema directly, not our wrapper.
    text = resources.files("weightwarden.registry").joinpath("schemas", "osv-schema-1.7.5.json").read_text()
    schema = json.loads(text)
    assert schema["$id"].startswith("https://raw.githubusercontent.com/ossf/osv-schema/")
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def _incident(**kw) -> Incident:
    args = dict(
        summary="Backdoor trigger in a redistributed checkpoint",
        details="A rank-one edit in layer 3 answers a trigger phrase with attacker text.",
        affected=[AffectedModel("acme/base", versions=("1.0",), weights_roots=(ROOT_BASE,),
                                file_digests={"model.safetensors": FILE_DIGEST},
                                purl="pkg:huggingface/acme/base@" + "0" * 40)],
        risk_domain="supply_chain.integrity", severity="high", atlas=("AML.T0058", "AML.T0010.003"),
        now=T0,
    )
    args.update(kw)
    return new_incident(**args)


# --- OSV form ---------------------------------------------------------------------------------------------

def test_new_incident_is_valid_osv_and_round_trips():
    inc = _incident(harm="cybersecurity_breach", references=[("EVIDENCE", "https://registry.example/entry/7")],
                    aliases=("AVID-2026-V001",), indicators=[{"schema": "weightwarden.indicator/v1", "d": "ab"}])
    osv = inc.to_osv()
    assert list(_official_osv_validator().iter_errors(osv)) == []
    assert osv["id"].startswith("x_WW-2026-")
    assert osv["affected"][0]["database_specific"]["model_id"] == "acme/base"
    assert osv["affected"][0]["versions"] == ["1.0"]
    specific = osv["database_specific"]
    assert specific["schema"] == "weightwarden.incident/v1"
    assert specific["risk_domain"] == "supply_chain.integrity" and specific["tlp"] == "TLP:CLEAR"
    assert specific["atlas"] == ["AML.T0058", "AML.T0010.003"] and specific["severity"] == "high"
    assert specific["indicators"] == [{"schema": "weightwarden.indicator/v1", "d": "ab"}]
    assert Incident.from_osv(json.loads(json.dumps(osv))) == inc
    # Canonical bytes (RFC 8785): stable, sorted keys, no whitespace.
    raw = incident_bytes(inc)
    assert raw == incident_bytes(Incident.from_osv(json.loads(raw)))
    assert json.loads(raw) == osv and raw.startswith(b'{"affected":[') and b"\n" not in raw
    assert b'"min_score":0,' in raw  # RFC 8785 number form (json.dumps would write 0.0)


def test_ids_are_unique_and_use_the_local_database_prefix():
    ids = {_incident().id for _ in range(50)}
    assert len(ids) == 50 and all(i.startswith("x_WW-2026-") for i in ids)


def test_hostile_nesting_and_unknown_fields_are_refused(tmp_path):
    data = _incident().to_osv()
    deep: list = []
    cursor = deep
    for _ in range(5000):  # deeper than Python's recursion limit
        cursor.append([])
        cursor = cursor[0]
    data["database_specific"]["indicators"] = [deep]
    with pytest.raises(IncidentError, match="nested deeper"):
        Incident.from_osv(data)
    (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(IncidentError, match="deep.json"):
        load_incident(tmp_path / "deep.json")
    data = _incident().to_osv()
    data["credits"] = [{"name": "someone"}]
    with pytest.raises(IncidentError, match="'credits' is not carried"):
        Incident.from_osv(data)


@pytest.mark.parametrize(("change", "needle"), [
    (lambda d: d.__setitem__("extra_top_level", 1), "not carried"),
    (lambda d: d.__setitem__("modified", "yesterday"), "not valid OSV"),
    (lambda d: d.__setitem__("id", "WW-1"), "not valid OSV"),
    (lambda d: d["database_specific"].__setitem__("schema", "other/v1"), "database_specific.schema"),
    (lambda d: d["database_specific"].__setitem__("risk_domain", "cyber.fun"), "risk domain"),
    (lambda d: d["database_specific"].__setitem__("tlp", "TLP:WHITE"), "TLP"),
    (lambda d: d["database_specific"].__setitem__("severity", "severe"), "severity"),
    (lambda d: d["database_specific"].__setitem__("atlas", ["T1059"]), "ATLAS"),
    (lambda d: d.__setitem__("affected", []), "at least one affected"),
    (lambda d: d["affected"][0]["database_specific"].__setitem__("weights_roots", ["A1" * 32]), "digest"),
    (lambda d: d["affected"][0]["database_specific"].__setitem__("model_id", "../../etc"), "model id"),
    (lambda d: d["affected"][0].__setitem__("package", {"ecosystem": "PyPI", "name": "x"}), "package"),
    (lambda d: d.__setitem__("summary", "x" * 301), "summary"),
    (lambda d: d["database_specific"]["lifecycle"].__setitem__("state", "fixed"), "lifecycle.state"),
    (lambda d: d["database_specific"].__setitem__("lifecycle", {"state": "fixed", "history": [
        *d["database_specific"]["lifecycle"]["history"], {"state": "fixed", "at": "2026-11-03T00:00:00Z"}]}),
     "not allowed"),
    (lambda d: d.__setitem__("withdrawn", "2026-11-03T00:00:00Z"), "withdrawn"),
    (lambda d: d["database_specific"].__setitem__("harm", "paper_cut"), "harm class"),
    (lambda d: d["database_specific"]["lineage_policy"].__setitem__("min_score", 2), "min_score"),
    (lambda d: d["database_specific"]["lineage_policy"].__setitem__("require_measured", "no"), "wrong type"),
])
def test_malformed_records_are_refused_with_a_reason(change, needle):
    data = copy.deepcopy(_incident().to_osv())
    change(data)
    with pytest.raises(IncidentError) as err:
        Incident.from_osv(data, where="bad.json")
    assert needle in err.value.reason and err.value.reason.startswith("bad.json")
    assert isinstance(err.value, WeightwardenError)


@pytest.mark.parametrize("kw", [
    {"risk_domain": "nope"}, {"severity": "urgent"}, {"tlp": "AMBER"}, {"atlas": ["AML.X"]},
    {"affected": []}, {"harm": "death", "summary": " "},
])
def test_new_incident_refuses_invalid_fields(kw):
    with pytest.raises(IncidentError):
        _incident(**kw)


def test_load_incident_files(tmp_path):
    inc = _incident()
    good = tmp_path / "inc.json"
    good.write_text(json.dumps(inc.to_osv()))
    assert load_incident(good) == inc
    for name, content in [("big.json", b"[" + b" " * (1024 * 1024 + 10) + b"]"), ("bad.json", b"{nope"),
                          ("list.json", b"[]")]:
        (tmp_path / name).write_bytes(content)
        with pytest.raises(IncidentError) as err:
            load_incident(tmp_path / name)
        assert name in err.value.reason
    with pytest.raises(IncidentError, match="cannot read"):
        load_incident(tmp_path / "missing.json")


# --- lifecycle --------------------------------------------------------------------------------------------

def _reach(state: IncidentState) -> Incident:
    inc = _incident()
    path = {IncidentState.REPORTED: [], IncidentState.CONFIRMED: ["confirmed"],
            IncidentState.FIXED: ["confirmed", "fixed"], IncidentState.WITHDRAWN: ["withdrawn"]}[state]
    for i, step in enumerate(path):
        inc = transition(inc, step, at=T0 + timedelta(hours=i + 1))
    return inc


@pytest.mark.parametrize(("start", "target"), list(itertools.product(IncidentState, IncidentState)))
def test_every_transition_is_allowed_or_refused_as_specified(start, target):
    inc = _reach(start)
    allowed = {(IncidentState.REPORTED, IncidentState.CONFIRMED), (IncidentState.REPORTED, IncidentState.WITHDRAWN),
               (IncidentState.CONFIRMED, IncidentState.FIXED), (IncidentState.CONFIRMED, IncidentState.WITHDRAWN)}
    assert (target in ALLOWED_TRANSITIONS[start]) == ((start, target) in allowed)
    if (start, target) in allowed:
        moved = transition(inc, target, at=T0 + timedelta(days=1), note="checked")
        assert moved.state is target and moved.history[-1].note == "checked"
        assert moved.modified == T0 + timedelta(days=1)
        assert Incident.from_osv(moved.to_osv()) == moved
    else:
        with pytest.raises(IncidentError, match="cannot go from"):
            transition(inc, target, at=T0 + timedelta(days=1))


def test_withdrawn_sets_osv_withdrawn_and_backdating_is_refused():
    inc = transition(_incident(), "withdrawn", at=T0 + timedelta(hours=5), note="duplicate report")
    assert inc.to_osv()["withdrawn"] == "2026-11-02T14:30:00Z"
    with pytest.raises(IncidentError, match="before the previous"):
        transition(_incident(), "confirmed", at=T0 - timedelta(seconds=1))
    with pytest.raises(IncidentError, match="unknown state"):
        transition(_incident(), "closed")


# --- EU Code of Practice due dates ---------------------------------------------------------------------------

@pytest.mark.parametrize(("harm", "days"), [("critical_infrastructure", 2), ("cybersecurity_breach", 5),
                                            ("death", 10), ("serious_harm", 15)])
def test_reporting_deadlines_follow_the_code_of_practice(harm, days):
    aware = T0 - timedelta(hours=6)
    inc = _incident(harm=harm, aware_at=aware)
    (deadline,) = reporting_deadlines(inc)
    assert deadline.days == days == EU_COP_DEADLINES[harm][0]
    assert deadline.due == aware + timedelta(days=days)
    assert "Code of Practice" in deadline.source
    stored = inc.to_osv()["database_specific"]["reporting_deadlines"]
    assert stored[0]["due"] == (aware + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_no_harm_class_no_deadline_and_stored_deadlines_are_recomputed():
    assert reporting_deadlines(_incident()) == ()
    data = _incident(harm="death").to_osv()
    data["database_specific"]["reporting_deadlines"][0]["due"] = "2099-01-01T00:00:00Z"  # a forged due date
    assert reporting_deadlines(Incident.from_osv(data))[0].due == T0 + timedelta(days=10)


# --- exports ------------------------------------------------------------------------------------------------

def _csaf_profile_problems(doc: dict) -> list[str]:
    """The CSAF 2.0 mandatory tests that apply to a csaf_security_advisory (6.1.1, 6.1.27.4-6, 6.1.27.10
    action statement, revision history numbering), checked independently of the exporter."""
    problems = []
    d = doc["document"]
    for key in ("category", "csaf_version", "publisher", "title", "tracking"):
        if key not in d:
            problems.append(f"document.{key} missing")
    if d["csaf_version"] != "2.0" or d["category"] != "csaf_security_advisory":
        problems.append("category/version")
    t = d["tracking"]
    numbers = [r["number"] for r in t["revision_history"]]
    if numbers != [str(i + 1) for i in range(len(numbers))] or t["version"] != numbers[-1]:
        problems.append("revision history / version")
    if t["status"] not in ("draft", "interim", "final"):
        problems.append("tracking.status")
    if "product_tree" not in doc:
        problems.append("6.1.27.4 product_tree")
    defined = {p["product_id"] for p in doc["product_tree"]["full_product_names"]}
    for v in doc["vulnerabilities"]:
        if not v.get("notes"):
            problems.append("6.1.27.5 notes")
        if not v.get("product_status"):
            problems.append("6.1.27.6 product_status")
        referenced = {p for ids in v["product_status"].values() for p in ids}
        if not referenced <= defined:
            problems.append("6.1.1 undefined product id")
        affected = set(v["product_status"].get("known_affected", []))
        remediated = {p for r in v.get("remediations", []) for p in r["product_ids"]}
        if not affected <= remediated:
            problems.append("6.1.27.10 action statement")
    return problems


@pytest.mark.parametrize(("state", "status", "tracking"), [
    (IncidentState.REPORTED, "under_investigation", "interim"),
    (IncidentState.CONFIRMED, "known_affected", "interim"),
    (IncidentState.FIXED, "known_affected", "final"),
])
def test_csaf_export(state, status, tracking):
    inc = _reach(state)
    doc = to_csaf(inc, publisher_name="Example registry", publisher_namespace="https://registry.example")
    assert _csaf_profile_problems(doc) == []
    vuln = doc["vulnerabilities"][0]
    assert list(vuln["product_status"]) == [status]
    assert doc["document"]["tracking"]["status"] == tracking
    assert doc["document"]["tracking"]["id"] == inc.id
    assert doc["document"]["distribution"]["tlp"]["label"] == "WHITE"
    helper = doc["product_tree"]["full_product_names"][0]["product_identification_helper"]
    assert helper["hashes"][0]["file_hashes"][0] == {"algorithm": "sha256", "value": "c3" * 32}
    assert helper["purl"].startswith("pkg:huggingface/acme/base@")
    if state is IncidentState.FIXED:
        assert vuln["remediations"][0]["category"] == "vendor_fix"
    json.dumps(doc)


@pytest.mark.parametrize(("state", "status"), [(IncidentState.REPORTED, "under_investigation"),
                                               (IncidentState.CONFIRMED, "affected"),
                                               (IncidentState.FIXED, "affected")])
def test_openvex_export(state, status):
    doc = to_openvex(_reach(state), author="Example registry")
    assert doc["@context"] == "https://openvex.dev/ns/v0.2.0"
    for key in ("@id", "author", "timestamp", "version", "statements"):
        assert key in doc
    (stmt,) = doc["statements"]
    assert stmt["status"] == status and stmt["vulnerability"]["name"].startswith("x_WW-")
    assert ("action_statement" in stmt) == (status == "affected")
    product = stmt["products"][0]
    assert product["@id"].startswith("pkg:huggingface/acme/base@")
    assert product["subcomponents"][0]["hashes"] == {"sha-256": "c3" * 32}


def test_withdrawn_incidents_are_not_exported_as_advisories():
    inc = _reach(IncidentState.WITHDRAWN)
    with pytest.raises(IncidentError, match="withdrawn"):
        to_csaf(inc, publisher_name="x", publisher_namespace="https://x.example")
    with pytest.raises(IncidentError, match="withdrawn"):
        to_openvex(inc, author="x")


# --- propagation through lineage ---------------------------------------------------------------------------

@dataclass
class MemoryView:
    models: dict[str, ModelRecord]
    records: list[Incident] = field(default_factory=list)

    def incidents(self):
        return list(self.records)

    def model(self, model_id):
        return self.models.get(model_id)

    def models_with_root(self, root):
        return [m.model_id for m in self.models.values() if m.weights_root == root]


def _family() -> MemoryView:
    return MemoryView({
        "acme/base": ModelRecord("acme/base", "1.0", ROOT_BASE, {"model.safetensors": FILE_DIGEST}),
        "bob/ft": ModelRecord("bob/ft", "0.1", ROOT_FT, declared_bases=("acme/base@1.0",)),
        "mirror/ft-copy": ModelRecord("mirror/ft-copy", "0.1", ROOT_FT),  # same weights, no declaration
        "carol/ft-of-ft": ModelRecord("carol/ft-of-ft", "2", "d4" * 32, declared_bases=("bob/ft",)),
        "dave/unrelated": ModelRecord("dave/unrelated", "1", "e5" * 32),
    })


def test_incident_on_a_base_reaches_derived_models_with_evidence():
    view = _family()
    inc = _incident()
    view.records.append(inc)
    lookup = declared_lineage(view)

    direct = incidents_affecting(view.models["acme/base"], view, lookup)
    assert [(h.incident.id, h.match, h.path) for h in direct] == [(inc.id, "weights_root", ())]

    (hit,) = incidents_affecting(view.models["carol/ft-of-ft"], view, lookup)
    assert hit.inherited and hit.matched_model == "acme/base"
    assert [(d.child, d.parent, d.basis) for d in hit.path] == [("carol/ft-of-ft", "bob/ft", "declared"),
                                                                ("bob/ft", "acme/base@1.0", "declared")]
    # Same weights as bob/ft under another name: reached through the identical weights root, then declared.
    (copy_hit,) = incidents_affecting(view.models["mirror/ft-copy"], view, lookup)
    assert [d.basis for d in copy_hit.path] == ["same-weights", "declared"]
    assert incidents_affecting(view.models["dave/unrelated"], view, lookup) == ()
    json.dumps([h.to_dict() for h in (hit, copy_hit)])


def test_propagation_respects_state_version_and_policy():
    view = _family()
    lookup = declared_lineage(view)
    ft = view.models["bob/ft"]
    withdrawn = transition(_incident(), "withdrawn", at=T0 + timedelta(hours=1))
    other_version = _incident(affected=[AffectedModel("acme/base", versions=("0.9",))])
    strict = _incident(lineage_policy=LineagePolicy(require_measured=True))
    local = _incident(lineage_policy=LineagePolicy(propagate=False))
    view.records.extend([withdrawn, other_version, strict, local])
    assert incidents_affecting(ft, view, lookup) == ()
    assert {h.incident.id for h in incidents_affecting(view.models["acme/base"], view, lookup)} == {strict.id, local.id}
    # A measured derivation satisfies require_measured when its score is high enough.
    measured = combined_lineage(lookup, lambda m: [Derivation("acme/base@1.0", "bob/ft", "measured", 0.93, 1e-40)]
                                if m.model_id == "bob/ft" else [])
    (hit,) = incidents_affecting(ft, view, measured)
    assert hit.incident.id == strict.id and hit.path[0].basis == "measured"
    picky = _incident(lineage_policy=LineagePolicy(min_score=0.95, require_measured=True))
    view.records[:] = [picky]
    assert incidents_affecting(ft, view, measured) == ()


def test_digest_match_finds_a_re_upload_under_another_name_and_cycles_terminate():
    view = _family()
    view.records.append(_incident(affected=[AffectedModel("acme/base", file_digests={"w.bin": FILE_DIGEST})]))
    reupload = ModelRecord("eve/renamed", "1", "f6" * 32, {"other-name.safetensors": FILE_DIGEST})
    (hit,) = incidents_affecting(reupload, view, declared_lineage(view))
    assert hit.match == "file_digest" and not hit.inherited
    # A declared cycle (x says y is its base, y says x) must not loop.
    view.models["x/a"] = ModelRecord("x/a", declared_bases=("x/b",))
    view.models["x/b"] = ModelRecord("x/b", declared_bases=("x/a",))
    assert incidents_affecting(view.models["x/a"], view, declared_lineage(view)) == ()
    # Depth is bounded.
    chain = {f"c/m{i}": ModelRecord(f"c/m{i}", declared_bases=(f"c/m{i + 1}",)) for i in range(12)}
    view.models.update(chain)
    view.records.append(_incident(affected=[AffectedModel("c/m11")]))
    assert incidents_affecting(chain["c/m0"], view, declared_lineage(view)) == ()
    assert len(incidents_affecting(chain["c/m0"], view, declared_lineage(view), max_depth=12)) == 1
    # A hostile family tree (a model declaring thousands of bases) costs a bounded number of lookups.
    asked: list[str] = []

    class CountingView(MemoryView):
        def model(self, model_id):
            asked.append(model_id)
            return super().model(model_id)

    wide = CountingView(dict(view.models), list(view.records))
    hub = ModelRecord("h/hub", declared_bases=tuple(f"w/base{i}" for i in range(5000)))
    incidents_affecting(hub, wide, declared_lineage(wide))
    assert len(asked) <= 257


def test_declared_base_versions_decide_between_release_and_whole_line():
    view = _family()
    view.models["acme/base"] = ModelRecord("acme/base", "1.1", "99" * 32)  # the line moved on to a fixed 1.1
    inc = _incident()  # names acme/base 1.0 (version, weights root, file digest)
    view.records.append(inc)
    lookup = declared_lineage(view)
    on_fixed = ModelRecord("f/on-fixed", declared_bases=("acme/base@1.1",))
    on_bad = ModelRecord("f/on-bad", declared_bases=("acme/base@1.0",))
    unknown = ModelRecord("f/unknown", declared_bases=("acme/base",))
    assert incidents_affecting(on_fixed, view, lookup) == ()
    (hit,) = incidents_affecting(on_bad, view, lookup)
    assert hit.match == "version" and hit.path[0].parent_version == "1.0"
    (hit,) = incidents_affecting(unknown, view, lookup)  # which release? every one of the line counts
    assert hit.match == "model_line" and hit.path[0].parent_model == "acme/base"


def test_a_log_with_several_versions_of_an_incident_uses_the_latest_continuation():
    view = _family()
    reported = _incident()
    confirmed = transition(reported, "confirmed", at=T0 + timedelta(hours=1))
    withdrawn = transition(confirmed, "withdrawn", at=T0 + timedelta(hours=2))
    # A record that rewrites history (same id, reported again, published later) must not replace the others.
    forged = new_incident(summary="rewritten", affected=[AffectedModel("acme/base")],
                          risk_domain="content.harm", severity="low", now=T0 + timedelta(days=1),
                          incident_id=reported.id)
    assert current_records([reported, confirmed, forged]) == [confirmed]
    assert current_records([confirmed, reported]) == [confirmed]  # an older copy later in the log changes nothing
    # Only a record's own publisher may continue it: mallory cannot withdraw acme's incident. Mallory's record
    # is a chain of its own (red team round 9, E1: records of different keys are never merged by id).
    assert current_records([confirmed, withdrawn], owners=["acme", "mallory"]) == [confirmed, withdrawn]
    assert current_records([confirmed, withdrawn], owners=["acme", "acme"]) == [withdrawn]
    view.records.extend([reported, confirmed])
    (hit,) = incidents_affecting(view.models["acme/base"], view, declared_lineage(view))
    assert hit.incident.state is IncidentState.CONFIRMED
    view.records.extend([withdrawn, forged])
    assert incidents_affecting(view.models["acme/base"], view, declared_lineage(view)) == ()


def test_derivation_from_report_accepts_only_derived_verdicts():
    report = {"schema": "weightwarden.lineage-report/v1", "verdict": "derived", "score": 0.8, "p_value": 1e-12,
              "shared_layers": [0, 1]}
    step = derivation_from_report("a/base", "b/child", report)
    assert step.basis == "measured" and step.score == 0.8
    assert derivation_from_report("a/base", "b/child", {**report, "verdict": "unrelated"}) is None
    with pytest.raises(IncidentError):
        derivation_from_report("a/base", "b/child", {"verdict": "derived"})


def test_measured_lineage_on_the_real_minilm(minilm_folder):
    """The real derivation test decides: a rank-one edited MiniLM inherits the base's incident; a model of the
    same shape with independent weights does not, even though both declare nothing."""
    import numpy as np

    from tests.lineage import variants as V
    from tests.lineage.models import load_hf_bert_arrays
    from weightwarden.lineage.derivation import WeightSource

    base = load_hf_bert_arrays(Path(minilm_folder))
    vocab = tuple((Path(minilm_folder) / "vocab.txt").read_text(encoding="utf-8").splitlines())
    edited = WeightSource.from_arrays(V.rank1_edit(base, rel_norm=0.05).tensors, vocab=vocab,
                                      architecture="bert", label="edited")
    rng = np.random.default_rng(0)
    independent = WeightSource.from_arrays(
        {k: (rng.standard_normal(v.shape).astype(np.float32) * float(v.std()) if v.ndim == 2 else v)
         for k, v in base.items()}, vocab=vocab, architecture="bert", label="independent")
    view = MemoryView({"sbert/minilm": ModelRecord("sbert/minilm", "1")})
    view.records.append(_incident(affected=[AffectedModel("sbert/minilm")],
                                  lineage_policy=LineagePolicy(min_score=0.5, require_measured=True)))
    candidates = {"sbert/minilm": Path(minilm_folder)}

    (hit,) = incidents_affecting(ModelRecord("eve/edited"), view, measured_lineage("eve/edited", edited, candidates))
    (step,) = hit.path
    assert step.basis == "measured" and step.score > 0.5 and step.p_value < 0.01
    assert incidents_affecting(ModelRecord("zed/independent"), view,
                               measured_lineage("zed/independent", independent, candidates)) == ()


# --- CLI (local files; the registry path is tested against the live server in test_web.py) ----------------

def test_cli_new_update_list_show_export(tmp_path):
    from click.testing import CliRunner

    from weightwarden.cli.main import main as cli

    runner = CliRunner()
    out = tmp_path / "incidents" / "inc.json"
    out.parent.mkdir()
    result = runner.invoke(cli, [
        "incident", "new", "--model", "acme/base@1.0", "--weights-root", ROOT_BASE,
        "--file-digest", f"model.safetensors={FILE_DIGEST}", "--summary", "Backdoor \x1b[2Jtrigger",
        "--risk-domain", "supply_chain.integrity", "--severity", "critical", "--atlas", "AML.T0058",
        "--harm", "death", "--aware-at", "2026-11-02T09:30:00Z", "--require-measured", "-o", str(out)])
    assert result.exit_code == 0, result.output
    inc = load_incident(out)
    assert inc.affected[0].versions == ("1.0",) and inc.lineage_policy.require_measured
    assert reporting_deadlines(inc)[0].due == T0 + timedelta(days=10)

    assert runner.invoke(cli, ["incident", "update", str(out), "--state", "fixed"]).exit_code == 2  # skips confirmed
    assert runner.invoke(cli, ["incident", "update", str(out), "--state", "confirmed", "--note", "seen"]).exit_code == 0
    assert load_incident(out).state is IncidentState.CONFIRMED

    listed = runner.invoke(cli, ["incident", "list", str(out.parent)])
    assert listed.exit_code == 0 and inc.id in listed.output and "confirmed" in listed.output
    assert "\x1b" not in listed.output and "\\x1b[2J" in listed.output  # escapes shown, never sent raw
    shown = runner.invoke(cli, ["incident", "show", str(out)])
    assert shown.exit_code == 0 and "report due 2026-11-12T09:30:00+00:00" in shown.output
    for fmt, needle in (("osv", '"schema_version": "1.7.5"'), ("csaf", '"csaf_version": "2.0"'),
                        ("openvex", '"https://openvex.dev/ns/v0.2.0"')):
        exported = runner.invoke(cli, ["incident", "export", str(out), "--format", fmt])
        assert exported.exit_code == 0 and needle in exported.output, exported.output
    as_json = runner.invoke(cli, ["incident", "list", str(out), "--format", "json"])
    assert json.loads(as_json.output)[0]["id"] == inc.id


@pytest.mark.parametrize("args", [
    ["incident", "new", "--model", "acme/x", "--summary", "s", "--risk-domain", "cyber.fun", "--severity", "low"],
    ["incident", "new", "--model", "ACME X", "--summary", "s", "--risk-domain", "cyber.offense", "--severity", "low"],
    ["incident", "new", "--model", "a/b", "--summary", "s", "--risk-domain", "cyber.offense", "--severity", "low",
     "--atlas", "T1059"],
    ["incident", "show", "{bad}"],
])
def test_cli_bad_input_is_exit_2_with_a_reason(args, tmp_path):
    from click.testing import CliRunner

    from weightwarden.cli.main import main as cli

    (tmp_path / "bad.json").write_text('{"id": "x"}')
    args = [a.replace("{bad}", str(tmp_path / "bad.json")) for a in args]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2 and result.output.startswith("error: "), result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("content", ["[" * 100_000 + "]" * 100_000, '[{"a": 1, "a": 2}]', "x" * (2 << 20)])
def test_cli_hostile_indicator_list_is_exit_2_naming_the_file(content, tmp_path):
    """``--indicators`` goes through the bounded, strict reader: deep nesting, duplicate keys and an oversized
    file are each an error naming the file, never a RecursionError or a truncated parse."""
    from click.testing import CliRunner

    from weightwarden.cli.main import main as cli

    path = tmp_path / "indicators.json"
    path.write_text(content)
    result = CliRunner().invoke(cli, ["incident", "new", "--model", "acme/x", "--summary", "s", "--risk-domain",
                                      "cyber.offense", "--severity", "low", "--indicators", str(path)])
    assert result.exit_code == 2 and result.output.startswith("error: "), result.output
    assert str(path) in result.output and "Traceback" not in result.output
