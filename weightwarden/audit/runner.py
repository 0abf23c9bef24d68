"""Run the analyses that apply to a model, weigh them with the risk policy, and return the :class:`Audit`.

What runs: **scan** always; **verify** when a bundle (and a verifier) is given; **lineage** against ``base``,
or against the base model the folder declares when that is a local path; **evals** from the logs given
(weightwarden eval JSONL), or run now against ``backend`` (the capability suites), and **other evidence**
from files given (Inspect AI logs, eval JSONL). Anything that does not run is recorded with the reason, and
a risk domain without evidence is ``not_assessed``, never L0.
The risk layer turns the analyses' findings and the eval evidence into per-domain levels, gate results and
the decision ``open`` / ``staged`` / ``withhold``.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from weightwarden.audit.facts import ModelFacts, describe_model
from weightwarden.audit.record import Audit, SkippedAnalysis
from weightwarden.core.errors import InputError
from weightwarden.core.records import Analysis

# The capability evidence the default policy needs first: cyber knowledge (CyberMetric, in the shared
# datasets). WMDP files are the user's own (``wmdp:PATH``).
DEFAULT_AUDIT_SUITES = ("cybermetric-80",)


@dataclass(frozen=True)
class AuditRequest:
    path: Path
    bundle: Path | None = None
    verifier: Any = None  # an integrity verifier (KeyVerifier, CertificateVerifier, SigstoreVerifier)
    base: Path | None = None
    eval_logs: tuple[Path, ...] = ()
    evidence: tuple[Path, ...] = ()
    policy: str | Path = "default"
    release_mode: str | None = None  # None: the policy's own
    strict_scan: bool = False
    workers: int | None = None
    # Count evidence whose log does not name the audited files by digest (Inspect logs name a model only).
    accept_unbound_evidence: bool = False
    # Run evals now: a backend spec (``gguf:PATH``, ``hf:FOLDER``, ``openai:URL#MODEL``, ...), the suites to
    # run on it, items per suite, and where the run's log goes (it is then read like an ``--eval`` log).
    backend: str | None = None
    suites: tuple[str, ...] = DEFAULT_AUDIT_SUITES
    eval_limit: int | None = None
    eval_out: Path | None = None


def run_audit(request: AuditRequest) -> Audit:
    """Audit ``request.path``. Raises :class:`~weightwarden.core.errors.WeightwardenError` for input that
    cannot be audited at all (no such path, an unreadable policy or log); findings for everything else."""
    from weightwarden import __version__
    from weightwarden.risk.policy import load_policy

    path = Path(request.path)
    if not path.exists():
        raise InputError(f"{path}: no such file or folder")
    policy = load_policy(request.policy)
    mode = request.release_mode or str(policy.release_mode)
    ignore = _inside(path, request.bundle)
    facts = describe_model(path, ignore=ignore)

    analyses: list[Analysis[Any]] = [_scan(path, facts, request)]
    skipped: list[SkippedAnalysis] = []
    _verify(path, request, ignore, analyses, skipped)
    _lineage(path, facts, request, analyses, skipped)
    if request.backend is not None:
        request = _run_evals(request)
    evidence, sources = _eval_evidence(request, analyses, skipped)
    risk = _assess(analyses, evidence, policy, mode, str(path), facts, request.accept_unbound_evidence)
    analyses.append(risk)
    assessment = risk.record
    return Audit(
        model=facts,
        analyses=tuple(analyses),
        skipped=tuple(skipped),
        assessment=assessment,
        decision=assessment.decision.decision.value,
        reasons=tuple(assessment.decision.reasons),
        policy={"id": policy.id, "version": policy.version, "release_mode": assessment.release_mode.value,
                "framework": policy.mirrors or None, "source": str(policy.source), "digest": policy.digest,
                "accept_unbound_evidence": request.accept_unbound_evidence},
        created=dt.datetime.now(dt.UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ"),
        tool_version=__version__,
        evidence_sources=tuple(sources),
    )


def _inside(path: Path, bundle: Path | None) -> tuple[str, ...]:
    """The bundle's path relative to the model folder when it lies inside it (left out of every hash)."""
    if bundle is None or not path.is_dir():
        return ()
    try:
        return (str(Path(bundle).resolve().relative_to(path.resolve())),)
    except ValueError:
        return ()


def _scan(path: Path, facts: ModelFacts, request: AuditRequest) -> Analysis[Any]:
    """Scan the folder, plus every attested file the folder walk would not read on its own: one inside a
    folder the walk skips (``__pycache__``, ``.ipynb_checkpoints``, ...) or under a skipped name, whether it is
    a file or a link there (the walk reads in-folder links under their names, but only where it walks). What
    the audit vouches for (the files it hashes) and what it scans must be the same set.

    Since scanner round 20 the folder's own discovery reads some of those too (model-named files in skipped
    folders, files a link or shard index names there): such a file is not added again, or the scan would read it
    twice and report each finding twice, under the folder's name for it and under its absolute path."""
    from weightwarden.artifact.loader import IGNORED_DIRS, IGNORED_FILES, discover
    from weightwarden.artifact.model import Artifact
    from weightwarden.scan import analyse

    extra: list[str] = []
    if path.is_dir():
        # Keyed as the walk keys what it reads once: the real file and the base name (readers route by base name,
        # so the same bytes under another name, a link's, are still scanned under this one).
        read_by_walk: set[tuple[str, str]] | None = None
        for fact in facts.files:
            parts = Path(fact.path).parts
            if any(p in IGNORED_DIRS for p in parts[:-1]) or parts[-1] in IGNORED_FILES:
                if read_by_walk is None:  # the same discovery the scan runs (names and index JSON only)
                    read_by_walk = {(os.path.realpath(f.path), f.display.rsplit("/", 1)[-1])
                                    for f in discover(Artifact(root=str(path)))}
                real = os.path.realpath(path / fact.path)
                if (real, parts[-1]) not in read_by_walk:
                    extra.append(real)
    return analyse([str(path), *extra], strict=request.strict_scan, workers=request.workers)


def _verify(path: Path, request: AuditRequest, ignore: tuple[str, ...], analyses: list[Analysis[Any]],
            skipped: list[SkippedAnalysis]) -> None:
    if request.bundle is None:
        skipped.append(SkippedAnalysis("integrity", "no signature bundle given (--bundle): authenticity not checked"))
        return
    if request.verifier is None:
        raise InputError("a signature bundle was given without a way to check it (--key, --chain or --identity)")
    from weightwarden.integrity.findings import analyse

    analyses.append(analyse(path, request.bundle, request.verifier, ignore_paths=ignore, workers=request.workers))


def _lineage(path: Path, facts: ModelFacts, request: AuditRequest, analyses: list[Analysis[Any]],
             skipped: list[SkippedAnalysis]) -> None:
    from weightwarden.lineage.findings import analyse
    from weightwarden.lineage.model import LineageError

    declared = facts.declared_base
    if request.base is not None:
        base, is_declared = Path(request.base), bool(declared) and Path(declared).resolve() == Path(request.base).resolve()
        try:
            analyses.append(analyse(base, path, declared=is_declared))
        except LineageError as exc:
            raise InputError(f"lineage against {base} failed: {exc}") from None
        return
    if declared and Path(declared).exists():
        try:
            analyses.append(analyse(Path(declared), path, declared=True))
        except LineageError as exc:
            skipped.append(SkippedAnalysis("lineage", f"the declared base {declared} could not be compared: {exc}"))
        return
    if declared:
        skipped.append(SkippedAnalysis(
            "lineage", f"the folder declares base model {declared!r}, which is not a local path; give --base"))
    else:
        skipped.append(SkippedAnalysis("lineage", "no base model given (--base) or declared"))


def _run_evals(request: AuditRequest) -> AuditRequest:
    """Run the audit's suites against ``request.backend`` (resumable: a finished log is reused) and add the
    log to the evidence. The backend scans a local model before loading it, like ``weightwarden eval``."""
    from dataclasses import replace

    from weightwarden.core.errors import ConfigError
    from weightwarden.evals.config import EvalConfig
    from weightwarden.evals.model import Sampling
    from weightwarden.evals.runner import EvalRunError, run_eval

    out = request.eval_out or Path(f"audit-eval-{request.path.name}.jsonl")
    try:
        config = EvalConfig(model=str(request.backend), suites=request.suites, out=out, limit=request.eval_limit,
                            seed=0, sampling=Sampling(max_tokens=8), concurrency=1)
        run_eval(config)
    except ValueError as exc:
        raise ConfigError(f"cannot run the audit's evals: {exc}") from None
    except EvalRunError as exc:
        raise InputError(f"the audit's eval run failed: {exc}") from None
    return replace(request, eval_logs=(*request.eval_logs, out))


def _eval_evidence(request: AuditRequest, analyses: list[Analysis[Any]],
                   skipped: list[SkippedAnalysis]) -> tuple[list[Any], list[str]]:
    from weightwarden.risk.evidence import from_eval_log, from_file

    evidence: list[Any] = []
    sources: list[str] = []
    for log in request.eval_logs:
        evidence.extend(from_eval_log(log))
        analyses.append(_eval_analysis(log))
        sources.append(str(log))
    for item in request.evidence:
        evidence.extend(from_file(item))
        sources.append(str(item))
    if not sources:
        skipped.append(SkippedAnalysis("evals", "no eval logs or evidence files given (--eval, --evidence)"))
    return evidence, sources


def _eval_analysis(log: Path) -> Analysis[Any]:
    from weightwarden.evals.findings import analyse

    return analyse(log)


def _assess(analyses: Sequence[Analysis[Any]], evidence: list[Any], policy: Any, mode: str,
            source: str, facts: ModelFacts, accept_unbound: bool) -> Analysis[Any]:
    from weightwarden.risk.assess import assess
    from weightwarden.risk.evidence import from_analysis
    from weightwarden.risk.rules import CATALOGUE, findings_of

    file_evidence = [from_analysis(a, source=source) for a in analyses if a.component in ("scan", "integrity", "lineage")]
    # Evidence counts only for the weights audited: a log that names another file's digest never does (a
    # shared config or tokenizer is no evidence of which weights ran), and one that names no digest only when
    # the user accepts that explicitly. A format lineage cannot read leaves every file as the candidate.
    digests = facts.weight_digests() or [f.sha256 for f in facts.files]
    assessment = assess([*file_evidence, *evidence], policy, mode, model_digest=digests,
                        accept_unbound=accept_unbound)
    return Analysis("risk", assessment, tuple(findings_of(assessment)), CATALOGUE)


