"""Results of a run log: rates, Wilson intervals, error handling, compare with significance, HTML/JSON output.

Logs are built record by record here (no model): these tests pin the arithmetic and the rules — errors are
never scored, undecided detectors are left out, only the latest record of an item counts — and check the
statistics against SciPy's reference implementations.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path
from xml.etree import ElementTree

import pytest
from scipy import stats as scipy_stats

from weightwarden.evals.html_report import render_html, write_report
from weightwarden.evals.log import AttemptRecord, EvalLog, EvalLogError, LogWriter, RunHeader, read_log
from weightwarden.evals.results import (
    ComparisonError,
    compare,
    compare_transforms,
    format_rate,
    outcomes,
    rate_estimate,
    summarize,
)
from weightwarden.evals.stats import holm, mcnemar_exact


def _header(model: str = "model-a", seed: int = 0, suites: tuple[str, ...] = ("harm", "benign")) -> RunHeader:
    return RunHeader(
        config={"suites": list(suites), "seed": seed, "sampling": {"max_tokens": 16}, "transforms": ["none"]},
        config_digest="sha256:" + "0" * 64,
        model={"kind": "scripted", "model": model, "digest": None, "endpoint": None, "details": {}},
        backend_kind="scripted",
        judge=None,
        datasets={s: {"version": "1", "family": "x", "source": "test", "source_digest": "d", "license": None,
                      "items": 0} for s in suites},
        weightwarden_version="0.1.0",
        seed=seed,
        started_at="2026-01-01T00:00:00Z",
    )


def _record(suite: str, item: str, *, family: str = "harmful", category: str = "c", success: bool | None = True,
            label: str = "compliance", detector: str | None = None, error: str | None = None,
            detector_error: str | None = None, transform: str = "none", attempt: int = 1,
            response: str = "an answer", extra: tuple[dict, ...] = ()) -> AttemptRecord:
    detector = detector or ("attack" if family == "harmful" else "refusal")
    detectors = () if error else (
        {"detector": detector, "label": label, "success": None if detector_error else success, "score": None,
         "evidence": "", "error": detector_error, "details": {}},
        *extra,
    )
    return AttemptRecord(
        suite_id=suite, suite_version="1", family=family, item_id=item, category=category, expect="refuse",
        transform=transform, attempt=attempt, messages=({"role": "user", "content": f"prompt {item}"},),
        sampling={"max_tokens": 16}, response=None if error else response, finish_reason="stop",
        truncated=False, reported_model=None, prompt_tokens=3, completion_tokens=4, latency_s=0.01, turns=1,
        detectors=detectors, error=error, error_kind="backend" if error else None,
        started_at="2026-01-01T00:00:00Z", finished_at="2026-01-01T00:00:01Z",
    )


def _log(records: list[AttemptRecord], **header_kw) -> EvalLog:
    return EvalLog(path=Path("mem.jsonl"), header=_header(**header_kw), records=tuple(records))


# --------------------------------------------------------------------------------------------- statistics

def test_rate_estimate_uses_the_wilson_interval_and_never_collapses_at_the_ends():
    est = rate_estimate(12, 40)
    assert est.rate == pytest.approx(0.3) and est.ci_low < 0.3 < est.ci_high
    wide, narrow = rate_estimate(5, 10), rate_estimate(500, 1000)
    assert (narrow.ci_high - narrow.ci_low) < (wide.ci_high - wide.ci_low) / 5
    # 0/n and n/n: the rate is at the end, the interval is not a point (the bootstrap said [0%, 0%]).
    zero, full = rate_estimate(0, 12), rate_estimate(12, 12)
    assert (zero.ci_low, full.ci_high) == (0.0, 1.0)
    assert zero.ci_high > 0.15 and full.ci_low < 0.85
    assert "0.0% [0.0%–" in format_rate(zero) and "(0/12)" in format_rate(zero)


def test_rate_estimate_with_nothing_scored_has_no_rate():
    est = rate_estimate(0, 0, undecided=3)
    assert (est.rate, est.ci_low, est.ci_high, est.undecided) == (None, None, None, 3)


def test_small_categories_get_no_interval():
    records = [_record("harm", f"a{i}", category="big", success=i < 3) for i in range(20)]
    records += [_record("harm", f"b{i}", category="tiny", success=i < 1) for i in range(3)]
    suite = summarize(_log(records)).suites["harm"]
    big, tiny = suite.categories["big"].metrics["attack_success"], suite.categories["tiny"].metrics["attack_success"]
    assert big.ci_low is not None and big.method == "wilson"
    assert (tiny.k, tiny.n, tiny.ci_low, tiny.ci_high, tiny.method) == (1, 3, None, None, "none")
    assert "n too small for an interval" in format_rate(tiny)
    # The suite as a whole (23 attempts) has its interval.
    assert suite.overall.metrics["attack_success"].ci_low is not None


def test_corrected_rate_from_the_error_rates_in_the_header():
    records = [_record("harm", str(i), success=i < 10) for i in range(40)]
    log = _log(records)
    rates = {"attack_success": {"sensitivity": 0.9, "specificity": 0.95, "source": "bench"}}
    log = replace(log, header=replace(log.header, detector_error_rates=rates))
    est = summarize(log).suites["harm"].overall.metrics["attack_success"]
    # (0.25 + 0.95 - 1) / (0.9 + 0.95 - 1) = 0.2 / 0.85
    assert est.corrected[0] == pytest.approx(0.2 / 0.85)
    assert est.corrected[1] <= est.corrected[0] <= est.corrected[2]
    assert est.to_json()["corrected"]["source"] == "bench"
    assert "corrected for detector error 23.5%" in format_rate(est)
    # Survives the JSONL round trip of the header.
    assert RunHeader.from_json(log.header.to_json()).detector_error_rates == rates


def test_mcnemar_exact_matches_scipy_binomial_test():
    for b, c in ((0, 10), (3, 12), (7, 7), (1, 0), (20, 35)):
        expected = scipy_stats.binomtest(min(b, c), b + c, 0.5).pvalue if b + c else 1.0
        assert mcnemar_exact(b, c) == pytest.approx(expected, rel=1e-9)
    assert mcnemar_exact(0, 0) == 1.0


def test_holm_adjustment():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([]) == []


# ------------------------------------------------------------------------------------------------ scoring

def test_errors_are_never_scored_and_undecided_detectors_are_left_out():
    records = [
        _record("harm", "1", success=True),
        _record("harm", "2", success=False, label="refusal"),
        _record("harm", "3", error="HTTP 503: overloaded"),  # an error is NOT an attack that failed
        _record("harm", "4", error="timeout after 60 s"),
        _record("harm", "5", detector_error="judge backend unreachable"),
    ]
    results = summarize(_log(records, suites=("harm",)))
    stats = results.suites["harm"].overall
    assert stats.attempts == 5
    assert stats.errors == 2 and stats.error_kinds == {"backend": 2}
    attack = stats.metrics["attack_success"]
    assert (attack.k, attack.n, attack.undecided) == (1, 2, 1)
    assert attack.rate == pytest.approx(0.5)
    assert stats.detector_errors == {"attack": 1}
    assert outcomes(records[2]) == {}


def test_latest_record_of_an_item_wins():
    records = [_record("harm", "1", error="connection refused"), _record("harm", "1", success=True, attempt=2)]
    stats = summarize(_log(records, suites=("harm",))).suites["harm"].overall
    assert stats.errors == 0 and stats.metrics["attack_success"].k == 1
    assert summarize(_log(records, suites=("harm",))).records == 2


def test_metrics_follow_the_suite_family_and_compliance_is_not_capability():
    judge = {"detector": "judge", "label": "not_harmful", "success": False, "score": 0.1, "evidence": "",
             "error": None, "details": {}}
    records = [
        _record("harm", "1", success=True, label="compliance", extra=(judge,)),
        _record("harm", "2", success=False, label="partial", extra=(judge,)),
        _record("benign", "1", family="over_refusal", success=True, label="refusal"),
        _record("benign", "2", family="over_refusal", success=False, label="compliance"),
    ]
    results = summarize(_log(records))
    harm = results.suites["harm"].overall.metrics
    assert set(harm) == {"attack_success", "harmful_content"}
    assert harm["attack_success"].k == 1 and harm["attack_success"].n == 2
    assert harm["harmful_content"].k == 0 and harm["harmful_content"].n == 2  # complied, but nothing usable
    benign = results.suites["benign"].overall.metrics
    assert set(benign) == {"over_refusal"} and benign["over_refusal"].rate == pytest.approx(0.5)


def test_two_detectors_behind_one_metric_either_suffices():
    canary = {"detector": "canary", "label": "leaked", "success": True, "score": None, "evidence": "",
              "error": None, "details": {}}
    record = _record("inj", "1", family="prompt_injection", detector="injection_judge", success=False,
                     label="resisted", extra=(canary,))
    assert outcomes(record) == {"injection_success": True}


def test_per_category_and_per_transform():
    records = [
        _record("harm", "1", category="a", success=True),
        _record("harm", "2", category="b", success=False),
        _record("harm+base64", "1+base64", category="a", success=True, transform="base64"),
        _record("harm+base64", "2+base64", category="b", success=True, transform="base64"),
    ]
    results = summarize(_log(records, suites=("harm", "harm+base64")))
    assert results.suites["harm"].categories["a"].metrics["attack_success"].k == 1
    assert results.suites["harm"].categories["b"].metrics["attack_success"].k == 0
    assert results.transforms["none"].metrics["attack_success"].rate == pytest.approx(0.5)
    assert results.transforms["base64"].metrics["attack_success"].rate == pytest.approx(1.0)
    summary = results.to_json()
    assert summary["schema"] == "weightwarden.eval-summary/v1"
    assert summary["suites"]["harm+base64"]["transform"] == "base64"


# ------------------------------------------------------------------------------------------------ compare

def _run(model: str, attack: list[bool], *, over: list[bool] | None = None) -> EvalLog:
    records = [_record("harm", str(i), success=s, label="compliance" if s else "refusal")
               for i, s in enumerate(attack)]
    records += [_record("benign", str(i), family="over_refusal", success=s) for i, s in enumerate(over or [])]
    return _log(records, model=model)


def test_compare_detects_a_safety_regression_with_paired_test():
    base = _run("base", [False] * 36 + [True] * 4)
    tuned = _run("tuned", [True] * 30 + [False] * 6 + [True] * 4)
    result = compare(base, tuned)
    change = next(c for c in result.suites if c.metric == "attack_success")
    assert change.test == "mcnemar-exact" and change.paired == 40
    assert change.diff == pytest.approx(0.75)
    assert change.ci_low > 0 and change.p_adjusted < 0.001
    assert change.verdict == "regressed"
    assert result.verdict.startswith("safety regressed")
    assert compare(tuned, base).verdict.startswith("safety improved")


def test_compare_no_significant_change_on_noise():
    a = _run("a", [True, False] * 10)
    b = _run("b", [False, True] * 10)  # 20 discordant pairs split 10/10
    result = compare(a, b)
    assert all(c.verdict == "no significant change" for c in result.suites)
    assert result.verdict == "no significant change in safety"


def test_compare_reports_over_refusal_apart_from_safety():
    a = _run("a", [False] * 10, over=[False] * 30)
    b = _run("b", [False] * 10, over=[True] * 25 + [False] * 5)
    result = compare(a, b)
    assert result.verdict == "no significant change in safety; over-refusal increased"


def test_compare_names_only_the_settings_that_change_results():
    a, b = _run("a", [False] * 10), _run("b", [False] * 10)
    b_header = replace(b.header, config_digest="sha256:" + "1" * 64,
                       config={**b.header.config, "seed": 3, "concurrency": 8, "timeout_s": 5.0, "out": "x.jsonl"})
    notes = compare(a, replace(b, header=b_header)).notes
    assert "the runs' configurations differ in: seed" in notes  # not concurrency, timeout_s or out


def test_compare_without_shared_items_is_an_error_not_a_pass():
    a = _log([_record("harm", f"a{i}", success=i < 2) for i in range(50)], model="a")
    b = _log([_record("harm", f"b{i}", success=i < 40) for i in range(50)], model="b")
    with pytest.raises(ComparisonError, match="share no item scored in both runs"):
        compare(a, b)
    other = _log([_record("other", str(i)) for i in range(5)], model="c", suites=("other",))
    with pytest.raises(ComparisonError, match="no suite in common"):
        compare(a, other)


def test_compare_counts_only_the_paired_items():
    a = _log([_record("harm", str(i), success=False) for i in range(30)], model="a")
    b = _log([_record("harm", str(i), success=i < 20) for i in range(10, 40)], model="b")
    change = compare(a, b).suites[0]
    assert change.paired == 20 and change.diff == pytest.approx(0.5)  # items 10..29: 10 of 20 flipped


def test_category_p_values_are_holm_adjusted_within_the_suite():
    records_a, records_b = [], []
    for c in range(4):
        for i in range(12):
            records_a.append(_record("harm", f"{c}-{i}", category=f"c{c}", success=False))
            records_b.append(_record("harm", f"{c}-{i}", category=f"c{c}", success=i < (8 if c == 0 else 1)))
    result = compare(_log(records_a, model="a"), _log(records_b, model="b"))
    cats = [c for c in result.categories if c.metric == "attack_success"]
    assert len(cats) == 4
    assert all(c.p_adjusted is not None and c.p_adjusted >= c.p_value for c in cats)
    assert holm([c.p_value for c in cats]) == pytest.approx([c.p_adjusted for c in cats])


def test_transformed_suite_is_compared_with_its_plain_suite_in_one_run():
    records = [_record("harm", str(i), success=False, label="refusal") for i in range(20)]
    records += [_record("harm+base64", f"{i}+base64", transform="base64", success=i < 15) for i in range(20)]
    changes = compare_transforms(_log(records, suites=("harm", "harm+base64")))
    assert len(changes) == 1
    change = changes[0]
    assert (change.suite_id, change.paired, change.test) == ("harm+base64", 20, "mcnemar-exact")
    assert change.diff == pytest.approx(0.75) and change.verdict == "regressed"
    assert summarize(_log(records, suites=("harm", "harm+base64"))).transform_changes == changes


# -------------------------------------------------------------------------------------------- HTML + JSON

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)><a href="http://evil.example/">x</a>'


def test_html_report_is_self_contained_and_escapes_untrusted_text(tmp_path: Path):
    log_path = tmp_path / "run.jsonl"
    with LogWriter.create(log_path, _header()) as writer:
        writer.write(_record("harm", "1", category=f"cat {HOSTILE}", response=f"Sure! {HOSTILE}"))
        writer.write(_record("harm", "2", error=f"HTTP 500: {HOSTILE}"))
        writer.write(_record("benign", "1", family="over_refusal", success=False, response=HOSTILE))
    out = tmp_path / "report.html"
    results = write_report(log_path, out)
    page = out.read_text(encoding="utf-8")
    assert "<script" not in page.lower()
    assert "<img" not in page and "<a " not in page  # the hostile markup appears only as escaped text
    assert "&lt;script&gt;" in page
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)  # nothing fetched from anywhere
    assert "<style>" in page
    charts = re.findall(r"<svg.*?</svg>", page, re.S)
    assert charts and all(ElementTree.fromstring(chart).tag.endswith("svg") for chart in charts)  # valid XML
    assert "Content-Security-Policy" in page
    summary = json.loads((tmp_path / "report.summary.json").read_text(encoding="utf-8"))
    assert summary["suites"]["harm"]["errors"] == 1
    assert summary["suites"]["harm"]["metrics"]["attack_success"]["n"] == 1
    assert results.total.attempts == 3
    assert render_html(results, read_log(log_path)) == page


@pytest.mark.parametrize(
    ("field", "value"),
    [("detectors", [1]), ("messages", ["hi"]), ("suite_id", ["not", "a", "string"]), ("item_id", None)],
)
def test_a_log_with_mistyped_record_fields_fails_closed(tmp_path: Path, field: str, value: object):
    path = tmp_path / "edited.jsonl"
    with LogWriter.create(path, _header()) as writer:
        writer.write(_record("harm", "1"))
    header, line = path.read_text(encoding="utf-8").splitlines()
    data = json.loads(line)
    data[field] = value
    path.write_text(header + "\n" + json.dumps(data) + "\n", encoding="utf-8")
    with pytest.raises(EvalLogError, match=f"line 2: .*{field}"):
        summarize(read_log(path))


@pytest.mark.parametrize(("field", "value"), [("seed", "abc"), ("datasets", ["harm"]), ("model", None)])
def test_a_log_with_a_mistyped_header_fails_closed(tmp_path: Path, field: str, value: object):
    path = tmp_path / "edited.jsonl"
    data = _header().to_json()
    data[field] = value
    path.write_text(json.dumps(data) + "\n", encoding="utf-8")
    with pytest.raises(EvalLogError, match=f"malformed header: {field}"):
        summarize(read_log(path))


def test_transform_compare_skips_metrics_with_nothing_decided_in_both():
    # All attack verdicts undecided (no judge): nothing to compare, and nothing that breaks the printout.
    records = [_record("harm", str(i), success=None) for i in range(5)]
    records += [_record("harm+base64", f"{i}+base64", transform="base64", success=None) for i in range(5)]
    assert compare_transforms(_log(records, suites=("harm", "harm+base64"))) == ()
