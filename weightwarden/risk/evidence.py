"""The evidence risk weighs, and adapters from what the analyses and other harnesses produce.

Three kinds (:class:`~weightwarden.risk.taxonomy.EvidenceKind`):

- :class:`CapabilityEvidence`: a benchmark score with its exact interval (what the model can do);
- :class:`MitigationEvidence`: a misuse / refusal rate with its exact interval (how it behaves when asked
  for harm) — counts only for API releases;
- :class:`IntegrityEvidence`: the findings of one file analysis (scan, integrity, lineage) that ran, clean
  or not — evidence for ``supply_chain.integrity``.

Adapters: :func:`from_eval_log` (a weightwarden eval JSONL log: capability from multiple-choice suites,
mitigation from harmful suites), :func:`from_inspect_log` (an Inspect AI log, read by Inspect's own
reader), :func:`from_findings` / :func:`from_analysis` (core findings), and :func:`from_file` which picks
by file type. Intervals are exact Clopper–Pearson intervals from k of n, never the point estimate alone.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from weightwarden.core.errors import ConfigError, InputError
from weightwarden.core.findings import Finding
from weightwarden.core.records import Analysis
from weightwarden.risk._toml import Fields, read_package_toml
from weightwarden.risk.taxonomy import EvidenceKind, domain

CAPABILITY_EVIDENCE_SCHEMA = "weightwarden.capability-evidence/v1"
MITIGATION_EVIDENCE_SCHEMA = "weightwarden.mitigation-evidence/v1"
INTEGRITY_EVIDENCE_SCHEMA = "weightwarden.integrity-evidence/v1"
SUPPLY_CHAIN = "supply_chain.integrity"
# Metrics of weightwarden's suites that are behaviour (misuse / refusal) evidence, by suite family (see
# weightwarden.evals.results); all are rates where higher is worse.
# Harmful suites: "non_refusal" (the model did not refuse: the refusal detector), "attack_success" (usable
# harmful content: the attack detector with a judge), "harmful_content" (older logs' judge metric).
MITIGATION_METRICS = {"harmful": ("non_refusal", "attack_success", "harmful_content"), "over_refusal": ("over_refusal",)}


def _describe_rate(e: CapabilityEvidence | MitigationEvidence) -> str:
    """One line for eval evidence: suite, harness, metric, value and its interval."""
    return (f"{e.suite} ({e.harness}): {e.metric} {e.value:.3f} [{e.ci_low:.3f}, {e.ci_high:.3f}] "
            f"at {e.confidence:.0%}, n={e.n}")


@dataclass(frozen=True, slots=True)
class CapabilityEvidence:
    domain: str  # risk-domain id ("" when neither the data nor the benchmark table names one)
    metric: str  # "chance_corrected_accuracy" (multiple choice) or "accuracy"
    value: float
    ci_low: float
    ci_high: float
    n: int
    chance: float
    source: str  # the log file
    suite: str  # suite id / Inspect task name
    k: int = 0
    confidence: float = 0.95
    harness: str = "weightwarden"  # "weightwarden" or "inspect_ai"
    model: str = ""  # model name / file as the log names it
    model_digest: str = ""  # sha256 of the model file, where the harness recorded it
    no_answer: int = 0  # multiple choice: answers from which no letter could be read (counted wrong)
    complete: bool = True  # the run finished (Inspect status "success"; weightwarden: no unscored attempts)
    detail: str = ""
    dataset_digest: str = ""  # sha256 of the question file (weightwarden logs): lets a reviewer check the data

    kind = EvidenceKind.CAPABILITY

    @property
    def no_answer_rate(self) -> float:
        return self.no_answer / self.n if self.n else 0.0

    @property
    def benchmark(self) -> str:
        return self.suite

    def describe(self) -> str:
        return _describe_rate(self)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": CAPABILITY_EVIDENCE_SCHEMA, "kind": self.kind.value, "domain": self.domain,
            "suite": self.suite, "metric": self.metric, "value": self.value, "ci_low": self.ci_low,
            "ci_high": self.ci_high, "confidence": self.confidence, "k": self.k, "n": self.n, "chance": self.chance,
            "no_answer": self.no_answer, "complete": self.complete, "harness": self.harness, "model": self.model,
            "model_digest": self.model_digest, "dataset_digest": self.dataset_digest, "source": self.source,
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True)
class MitigationEvidence:
    domain: str
    metric: str  # "non_refusal" (complied), "attack_success" (usable harmful content, judge), "over_refusal"
    value: float  # misuse rate: higher is worse
    ci_low: float
    ci_high: float
    n: int
    source: str
    suite: str
    k: int = 0
    confidence: float = 0.95
    harness: str = "weightwarden"
    model: str = ""
    model_digest: str = ""
    complete: bool = True
    detail: str = ""

    kind = EvidenceKind.MITIGATION
    no_answer = 0
    no_answer_rate = 0.0

    @property
    def benchmark(self) -> str:
        return self.suite

    def describe(self) -> str:
        return _describe_rate(self)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": MITIGATION_EVIDENCE_SCHEMA, "kind": self.kind.value, "domain": self.domain,
            "suite": self.suite, "metric": self.metric, "value": self.value, "ci_low": self.ci_low,
            "ci_high": self.ci_high, "confidence": self.confidence, "k": self.k, "n": self.n,
            "complete": self.complete, "harness": self.harness, "model": self.model,
            "model_digest": self.model_digest, "source": self.source, "detail": self.detail,
        }


@dataclass(frozen=True, slots=True)
class IntegrityEvidence:
    """One file analysis that ran (``component``: scan, integrity, lineage) and the findings it raised."""

    component: str
    findings: tuple[Finding, ...]
    source: str = ""  # the model path analysed

    kind = EvidenceKind.INTEGRITY
    domain = SUPPLY_CHAIN

    @property
    def active(self) -> tuple[Finding, ...]:
        """Findings that count: suppressed ones stay in reports but do not set a level."""
        return tuple(f for f in self.findings if not f.suppressed)

    def describe(self) -> str:
        active = self.active
        if not active:
            return f"{self.component}: no findings"
        worst = max(active, key=lambda f: f.severity.rank)
        return f"{self.component}: {len(active)} finding(s), worst {worst.severity.value} {worst.rule_id}"

    def to_dict(self) -> dict[str, Any]:
        return {"schema": INTEGRITY_EVIDENCE_SCHEMA, "kind": self.kind.value, "domain": self.domain,
                "component": self.component, "source": self.source,
                "findings": [f.to_dict() for f in self.findings]}


Evidence = CapabilityEvidence | MitigationEvidence | IntegrityEvidence


# ------------------------------------------------------------------------------------ benchmark → domain

@dataclass(frozen=True, slots=True)
class BenchmarkDomain:
    glob: str
    domain: str
    kind: EvidenceKind
    note: str


def benchmark_domains() -> tuple[BenchmarkDomain, ...]:
    """The built-in benchmark table (``weightwarden/risk/data/benchmarks.toml``)."""
    file = read_package_toml("benchmarks.toml")
    top = Fields(file.data, file.label)
    top.text("schema")
    top.text("version")
    out = []
    for i, table in enumerate(top.tables("benchmarks")):
        f = Fields(table, f"{file.label}: benchmarks[{i}]")
        entry = BenchmarkDomain(f.text("glob"), domain(f.text("domain")).id,
                                EvidenceKind(f.text("kind")), f.text("note", ""))
        f.done()
        out.append(entry)
    top.done()
    return tuple(out)


def domain_of(benchmark: str, table: Sequence[BenchmarkDomain] | None = None) -> str:
    """The domain the benchmark table maps ``benchmark`` to ("" when none)."""
    for entry in table if table is not None else benchmark_domains():
        if fnmatch.fnmatchcase(benchmark.lower(), entry.glob.lower()):
            return entry.domain
    return ""


# ---------------------------------------------------------------------------------------------- adapters

def from_eval_log(path: str | Path, *, confidence: float = 0.95) -> tuple[CapabilityEvidence | MitigationEvidence, ...]:
    """Evidence in a weightwarden eval log: capability from suites scored by the ``choice`` detector,
    mitigation (misuse rates) from harmful suites. A log that cannot be read is an :class:`InputError`."""
    from weightwarden.evals.log import EvalLogError, read_log

    try:
        log = read_log(path)
    except (EvalLogError, OSError, ValueError) as exc:
        raise InputError(f"{path}: cannot read weightwarden eval log ({exc})") from None
    try:
        return _eval_log_evidence(log, path, confidence)
    except (AttributeError, KeyError, TypeError, ValueError, ZeroDivisionError, IndexError) as exc:
        # A hand-edited or hostile log whose fields have the wrong shape: a clear error naming the file.
        raise InputError(f"{path}: malformed weightwarden eval log ({exc.__class__.__name__}: {exc})") from None


def _eval_log_evidence(log: Any, path: str | Path, confidence: float) -> tuple[CapabilityEvidence | MitigationEvidence, ...]:
    from weightwarden.evals.capability import capability_scores, exact_interval
    from weightwarden.evals.results import summarize

    table = benchmark_domains()
    model = log.header.model
    name, digest = str(model.get("model", "")), str(model.get("digest") or "")
    out: list[CapabilityEvidence | MitigationEvidence] = []
    for score in capability_scores(log, confidence=confidence):
        est = score.estimate
        out.append(CapabilityEvidence(
            domain=score.domain or domain_of(score.suite_id, table), metric=score.metric, value=est.score,
            ci_low=est.score_low, ci_high=est.score_high, n=est.n, chance=est.chance, source=str(path),
            suite=score.suite_id, k=est.k, confidence=confidence, model=name, model_digest=digest,
            no_answer=score.no_answer, complete=score.errors == 0, dataset_digest=score.source_digest,
            detail=f"accuracy {est.accuracy:.3f} [{est.accuracy_low:.3f}, {est.accuracy_high:.3f}]; "
                   f"{score.errors} attempt(s) not scored",
        ))
    summary = summarize(log)
    for suite_id, suite in summary.suites.items():
        for metric in MITIGATION_METRICS.get(suite.family, ()):
            rate = suite.overall.metrics.get(metric)
            if rate is None or rate.n == 0:
                continue
            low, high = exact_interval(rate.k, rate.n, confidence)
            out.append(MitigationEvidence(
                domain=domain_of(suite_id, table), metric=metric, value=rate.k / rate.n, ci_low=low, ci_high=high,
                n=rate.n, source=str(path), suite=suite_id, k=rate.k, confidence=confidence, model=name,
                model_digest=digest, complete=suite.overall.errors == 0 and rate.undecided == 0,
                detail=f"transform {suite.transform}; {rate.undecided} undecided, {suite.overall.errors} errors",
            ))
    return tuple(out)


def from_inspect_log(path: str | Path, *, confidence: float = 0.95) -> tuple[CapabilityEvidence, ...]:
    """Capability evidence from an Inspect AI eval log (one item per accuracy-reporting scorer)."""
    from weightwarden.evals.inspect_logs import read_inspect_log

    table = benchmark_domains()
    out = []
    for score in read_inspect_log(path, confidence=confidence):
        est = score.estimate
        out.append(CapabilityEvidence(
            domain=domain_of(score.task, table),
            metric="chance_corrected_accuracy" if score.chance > 0 else "accuracy",
            value=est.score, ci_low=est.score_low, ci_high=est.score_high, n=est.n, chance=score.chance,
            source=str(path), suite=score.task, k=est.k, confidence=confidence, harness="inspect_ai",
            model=score.model, complete=score.status == "success",
            detail=f"scorer {score.scorer}; accuracy {score.accuracy:.3f}; k from {score.k_source}; "
                   f"status {score.status}",
        ))
    return tuple(out)


def from_findings(findings: Iterable[Finding], component: str, *, source: str = "") -> IntegrityEvidence:
    """Integrity evidence from the findings of one file analysis that ran (an empty list = ran clean)."""
    if not component:
        raise ConfigError("integrity evidence needs the component that produced the findings")
    return IntegrityEvidence(component=component, findings=tuple(findings), source=source)


def from_analysis(analysis: Analysis[Any], *, source: str = "") -> IntegrityEvidence:
    """Integrity evidence from a core :class:`Analysis` (scan, integrity or lineage)."""
    return from_findings(analysis.findings, analysis.component, source=source)


INSPECT_SUFFIXES = (".eval", ".json")


def from_file(path: str | Path, *, confidence: float = 0.95) -> tuple[CapabilityEvidence | MitigationEvidence, ...]:
    """Evidence from a log file: ``.jsonl`` is a weightwarden eval log, ``.eval`` / ``.json`` an Inspect log."""
    suffix = Path(path).suffix.lower()
    if suffix == ".jsonl":
        return from_eval_log(path, confidence=confidence)
    if suffix in INSPECT_SUFFIXES:
        return from_inspect_log(path, confidence=confidence)
    raise InputError(f"{path}: unknown evidence file type (expected a weightwarden eval log .jsonl, or an "
                     "Inspect AI log .eval / .json)")
