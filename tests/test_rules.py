"""Unit tests of the rule catalogue on hand-built records, plus engine behaviour on small generated folders.

Pickle, Keras, TensorFlow and ONNX rules are exercised on FileEntry / CodeObject / PickleAnalysis records
built by hand, so each rule's contract is tested independently of the readers. The anomaly map is checked
against every anomaly code the source tree declares: a new reader code without a rule fails here.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from weightwarden.artifact.model import Anomaly, Artifact, CodeKind, CodeObject, FileEntry, Format
from weightwarden.core.findings import Severity
from weightwarden.picklevm.model import CallSite, PickleAnalysis
from weightwarden.scan import scan_paths
from weightwarden.scan.rules import (
    ALL_RULES,
    ANOMALY_RULES,
    RULES_BY_ID,
    UNMAPPED_RULE,
    catalogue_markdown,
    evaluate_anomalies,
    evaluate_entry,
    rule_for_anomaly,
)

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "weightwarden"


def _entry(
    *code: CodeObject, anomalies: tuple[Anomaly, ...] = (), fmt: Format = Format.PICKLE, **meta
) -> FileEntry:
    return FileEntry("model.pkl", fmt, 100, metadata=dict(meta), code=list(code), anomalies=list(anomalies))


def _pickle(
    *sites: CallSite,
    nested: tuple[PickleAnalysis, ...] = (),
    error: str | None = None,
    limit_hit: str | None = None,
    start: int = 0,
) -> CodeObject:
    imports = tuple(s for s in sites if s.kind == "import")
    calls = tuple(s for s in sites if s.kind != "import")
    analysis = PickleAnalysis(
        start=start,
        end=None if error else 50,
        protocol=2,
        opcodes=10,
        globals=imports,
        calls=calls,
        nested=nested,
        error=error,
        limit_hit=limit_hit,
    )
    return CodeObject(CodeKind.PICKLE, "data.pkl", analysis=analysis)


def _ids(findings) -> list[str]:
    return [f.rule_id for f in findings]


# -- catalogue -------------------------------------------------------------------------------------------


def test_rule_ids_unique_and_well_formed() -> None:
    ids = [r.id for r in ALL_RULES]
    assert len(ids) == len(set(ids))
    families = {"PKL", "KERAS", "TF", "ONNX", "TPL", "ST", "GGUF", "NPY", "ARC", "FS", "GEN", "CODE"}
    for rule in ALL_RULES:
        assert re.fullmatch(r"WW-[A-Z]+-\d{3}", rule.id), rule.id
        assert rule.family in families, rule.id
        assert rule.title and rule.description and rule.remediation, rule.id
        assert rule.references, rule.id
        for ref in rule.references:
            assert re.fullmatch(r"CWE-\d+|AML\.T\d{4}(\.\d{3})?", ref), (rule.id, ref)
    assert {r.family for r in ALL_RULES} == families


def test_docs_rules_md_is_up_to_date() -> None:
    path = ROOT / "docs" / "rules.md"
    assert path.read_text(encoding="utf-8") == catalogue_markdown(), (
        "docs/rules.md is stale: regenerate with\n"
        "  python -c 'from weightwarden.scan.rules import catalogue_markdown as c; "
        'open("docs/rules.md", "w").write(c())\''
    )


_FAMILIES = r"(?:pickle|torch|joblib|numpy|safetensors|gguf|onnx|tf|keras|template|zip|tar|7z|archive|compressed|fs|limits|hf)"


def _declared_anomaly_codes() -> dict[str, str]:
    """Every anomaly code the product declares or emits literally, mapped to the file that has it."""
    codes: dict[str, str] = {}
    literal = re.compile(r"""Anomaly\(\s*["']([a-z0-9_]+\.[a-z0-9_.]+)["']""")
    helper = re.compile(rf"""\(\s*["']({_FAMILIES}\.[a-z][a-z0-9_]*)["']\s*,""")
    doc_line = re.compile(rf"^\s+(?:\(plus [^)]*\)|({_FAMILIES}\.[a-z][a-z0-9_]*):)")
    for path in sorted(PACKAGE.rglob("*.py")):
        if "scan" in path.relative_to(PACKAGE).parts:
            continue  # the rules themselves
        text = path.read_text(encoding="utf-8")
        found = set(literal.findall(text))
        if path.relative_to(PACKAGE).parts[0] == "artifact":
            found |= set(helper.findall(text))  # readers pass codes to small helpers: ("zip.gap", ...)
        in_section = False
        for line in text.splitlines():
            if line.strip() == "Anomaly codes:":
                in_section = True
                continue
            if in_section:
                if not line.strip() or line.strip().startswith('"""'):
                    in_section = False
                    continue
                match = doc_line.match(line)
                if match and match.group(1):
                    found.add(match.group(1))
        for code in found:
            codes.setdefault(code, str(path.relative_to(ROOT)))
    return codes


def test_every_declared_anomaly_code_has_an_explicit_rule() -> None:
    codes = _declared_anomaly_codes()
    assert len(codes) > 40, "the source scan found suspiciously few anomaly codes"
    missing = {code: where for code, where in sorted(codes.items()) if code not in ANOMALY_RULES}
    assert not missing, f"anomaly codes without a rule (they would fire {UNMAPPED_RULE.id}): {missing}"


def test_unmapped_anomaly_fires_generic_rule() -> None:
    entry = _entry(anomalies=(Anomaly("brandnew.thing", "somewhere", "a new structural fact", "ev"),))
    [finding] = evaluate_entry(entry, "f.bin")
    assert finding.rule_id == "WW-GEN-900" and finding.severity == Severity.MEDIUM
    assert "brandnew.thing" in finding.message and finding.location.path == "somewhere"
    assert rule_for_anomaly("brandnew.thing") is UNMAPPED_RULE


@pytest.mark.parametrize(
    ("code", "rule_id", "severity"),
    [
        ("zip.crc_mismatch", "WW-ARC-001", Severity.HIGH),
        ("zip.local_name_mismatch", "WW-ARC-001", Severity.HIGH),
        ("archive.path_traversal", "WW-ARC-005", Severity.HIGH),
        ("archive.bomb", "WW-ARC-007", Severity.HIGH),
        ("fs.symlink_escape", "WW-FS-001", Severity.HIGH),
        ("fs.symlink", "WW-FS-002", Severity.INFO),
        ("safetensors.offset_overlap", "WW-ST-001", Severity.HIGH),
        ("safetensors.bad_dtype", "WW-ST-002", Severity.MEDIUM),
        ("onnx.external_data_escape", "WW-ONNX-001", Severity.CRITICAL),
        ("limits.too_many_files", "WW-GEN-001", Severity.HIGH),
    ],
)
def test_anomaly_severities(code: str, rule_id: str, severity: Severity) -> None:
    [finding] = evaluate_anomalies([Anomaly(code, "x/y", "msg", "evidence")])
    assert (finding.rule_id, finding.severity) == (rule_id, severity)
    assert finding.file == "x/y" and code in finding.evidence_text
    assert finding.remediation and finding.references


# -- pickle ----------------------------------------------------------------------------------------------


def test_pickle_dangerous_unknown_and_safe_calls() -> None:
    code = _pickle(
        CallSite("collections.OrderedDict", "import", "GLOBAL", 2),
        CallSite("os.system", "import", "GLOBAL", 10),
        CallSite("os.system", "call", "REDUCE", 30, args="('id',)"),
        CallSite("os.system", "import", "GLOBAL", 40),
        CallSite("mypkg.helpers.Thing", "import", "STACK_GLOBAL", 60),
    )
    findings = evaluate_entry(_entry(code), "m.pkl")
    by_rule = {f.rule_id: f for f in findings}
    assert sorted(by_rule) == ["WW-PKL-001", "WW-PKL-002"]
    crit = by_rule["WW-PKL-001"]
    assert (
        crit.severity == Severity.CRITICAL and crit.location.offset == 10 and crit.location.path == "data.pkl > GLOBAL @10"
    )
    assert "os.system" in crit.message and "3 occurrences" in crit.evidence_text and "'id'" in crit.evidence_text
    assert by_rule["WW-PKL-002"].severity == Severity.HIGH and by_rule["WW-PKL-002"].location.offset == 60
    assert crit.references and "CWE-502" in crit.references


def test_pickle_computed_name_is_critical() -> None:
    code = _pickle(
        CallSite("<computed>", "call", "REDUCE", 12),
        CallSite("os.system", "import", "STACK_GLOBAL", 8, computed=True),
    )
    findings = evaluate_entry(_entry(code), "m.pkl")
    # An unknowable name is WW-PKL-003; a name resolved statically to a dangerous object is WW-PKL-001.
    assert sorted(_ids(findings)) == ["WW-PKL-001", "WW-PKL-003"]
    assert all(f.severity == Severity.CRITICAL for f in findings)


def test_nested_pickle_findings_carry_location_chain() -> None:
    inner = PickleAnalysis(
        start=100,
        end=150,
        protocol=2,
        opcodes=5,
        globals=(CallSite("posix.system", "import", "GLOBAL", 102),),
    )
    code = _pickle(CallSite("pickle.loads", "call", "REDUCE", 90), nested=(inner,))
    findings = evaluate_entry(_entry(code), "m.pkl")
    nested = [f for f in findings if "nested" in f.location.path]
    assert nested and nested[0].location.path == "data.pkl > nested pickle #0 @100 > GLOBAL @102"
    assert nested[0].rule_id == "WW-PKL-001"


def test_parse_error_after_dangerous_call_still_reports_call() -> None:
    code = _pickle(CallSite("builtins.exec", "call", "REDUCE", 20), error="invalid opcode 0xff at offset 33")
    findings = evaluate_entry(_entry(code), "m.pkl")
    assert _ids(findings) == ["WW-PKL-001", "WW-PKL-005"]
    assert "invalid opcode" in findings[1].message


def test_limit_hit_is_reported() -> None:
    findings = evaluate_entry(_entry(_pickle(limit_hit="max_pickle_stack")), "m.pkl")
    assert _ids(findings) == ["WW-PKL-006"] and findings[0].severity == Severity.HIGH


def test_strict_narrows_allowlist() -> None:
    code = _pickle(CallSite("argparse.Namespace", "call", "REDUCE", 5))
    assert evaluate_entry(_entry(code), "m.pkl", strict=False) == []
    [finding] = evaluate_entry(_entry(code), "m.pkl", strict=True)
    assert finding.rule_id == "WW-PKL-002"


def test_real_analysis_of_hand_written_pickle() -> None:
    from weightwarden.picklevm import analyze_bytes

    payload = b"cposix\nsystem\n(S'echo pwned'\ntR."
    analysis = analyze_bytes(payload)
    entry = _entry(CodeObject(CodeKind.PICKLE, "stream 0 @0", analysis=analysis))
    findings = evaluate_entry(entry, "evil.pkl")
    assert findings and findings[0].rule_id == "WW-PKL-001" and findings[0].location.offset == 0


# -- keras -----------------------------------------------------------------------------------------------


def _keras(reason: str, target: str | None = None, lambda_code: bool = False, **extra) -> CodeObject:
    details = {
        "class_name": "X",
        "module": None,
        "target": target,
        "lambda_code": lambda_code,
        "registered_name": None,
        "reason": reason,
        **extra,
    }
    return CodeObject(CodeKind.KERAS_LAYER, "layer:x", text='{"class_name": "X"}', details=details)


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (_keras("lambda", lambda_code=True), ("WW-KERAS-001", Severity.CRITICAL)),
        (_keras("function_ref", "os.system"), ("WW-KERAS-002", Severity.CRITICAL)),
        (_keras("module_ref", "subprocess.Popen"), ("WW-KERAS-002", Severity.CRITICAL)),
        (_keras("function_ref", "keras.utils.get_file"), ("WW-KERAS-002", Severity.CRITICAL)),
        (_keras("custom_object", "my_package.layers.Fancy"), ("WW-KERAS-003", Severity.HIGH)),
        (_keras("lambda", "my_module.fn"), ("WW-KERAS-003", Severity.HIGH)),
        (_keras("tf_op_lambda", "tf.io.write_file"), ("WW-KERAS-004", Severity.HIGH)),
        (_keras("tfsm_layer", "keras.layers.TFSMLayer", filepath="/tmp/x"), ("WW-KERAS-005", Severity.HIGH)),
    ],
)
def test_keras_rules(code: CodeObject, expected: tuple[str, Severity]) -> None:
    [finding] = evaluate_entry(_entry(code, fmt=Format.KERAS_ZIP), "m.keras")
    assert (finding.rule_id, finding.severity) == expected
    assert finding.location.path == "layer:x"


def test_keras_benign_tf_op_lambda_is_silent() -> None:
    assert evaluate_entry(_entry(_keras("tf_op_lambda", "tf.math.add"), fmt=Format.KERAS_H5), "m.h5") == []


# -- tensorflow ------------------------------------------------------------------------------------------


def test_tf_ops() -> None:
    ops = {"MatMul": 3, "Const": 10, "WriteFile": 1, "ReadFile": 2, "MyCustomOp": 1}
    code = CodeObject(CodeKind.TF_OP, "meta_graph[0]/graph", details={"ops": ops})
    findings = evaluate_entry(_entry(code, fmt=Format.SAVEDMODEL), "saved_model.pb")
    got = {(f.rule_id, f.severity, f.location.path.rsplit(":", 1)[-1]) for f in findings}
    assert got == {
        ("WW-TF-001", Severity.CRITICAL, "WriteFile"),
        ("WW-TF-002", Severity.HIGH, "ReadFile"),
        ("WW-TF-003", Severity.MEDIUM, "MyCustomOp"),
    }


# -- onnx ------------------------------------------------------------------------------------------------


def _op(domain: str, op_type: str) -> CodeObject:
    return CodeObject(CodeKind.ONNX_OP, "graph", details={"domain": domain, "op_type": op_type, "count": 2})


def test_onnx_domains() -> None:
    entry = _entry(
        _op("", "Conv"),
        _op("com.microsoft", "FusedMatMul"),
        _op("ai.onnx.ml", "TreeEnsembleRegressor"),
        _op("evil.corp", "Backdoor"),
        _op("ai.onnx.contrib", "PyOp"),
        _op("org.pytorch.aten", "ATen"),
        fmt=Format.ONNX,
    )
    findings = evaluate_entry(entry, "m.onnx")
    got = sorted((f.rule_id, f.severity.value, f.evidence_text) for f in findings)
    assert got == [
        ("WW-ONNX-003", "high", "evil.corp.Backdoor x2"),
        ("WW-ONNX-004", "high", "ai.onnx.contrib.PyOp x2"),
        ("WW-ONNX-004", "medium", "org.pytorch.aten.ATen x2"),
    ]


def test_onnx_local_function_domain_is_not_custom() -> None:
    entry = _entry(
        _op("my.funcs", "Block"), fmt=Format.ONNX, functions=[{"domain": "my.funcs", "name": "Block"}]
    )
    assert evaluate_entry(entry, "m.onnx") == []


def test_onnx_external_data() -> None:
    def ext(path: str) -> CodeObject:
        return CodeObject(CodeKind.EXTERNAL_REF, "initializer", details={"path": path, "tensor": "w"})

    findings = evaluate_entry(
        _entry(ext("weights.bin"), ext("../../etc/passwd"), ext("/etc/shadow"), fmt=Format.ONNX), "m.onnx"
    )
    assert sorted((f.rule_id, f.severity.value) for f in findings) == [
        ("WW-ONNX-001", "critical"),
        ("WW-ONNX-002", "high"),
    ]
    # When the reader already reported the path, the rule does not report it twice.
    entry = _entry(
        ext("../x.bin"),
        anomalies=(Anomaly("onnx.external_data_escape", "w", "escapes", "../x.bin"),),
        fmt=Format.ONNX,
    )
    assert _ids(evaluate_entry(entry, "m.onnx")) == ["WW-ONNX-001"]


# -- templates through the rule --------------------------------------------------------------------------


def test_template_rule_locations() -> None:
    code = CodeObject(
        CodeKind.CHAT_TEMPLATE,
        "metadata:tokenizer.chat_template",
        text="{{ messages }}\n{{ lipsum.__globals__['os'].popen('id').read() }}",
        details={"name": "default"},
    )
    [finding] = evaluate_entry(_entry(code, fmt=Format.GGUF), "m.gguf")
    assert finding.rule_id == "WW-TPL-003" and finding.location.path == "metadata:tokenizer.chat_template line 2"
    assert "lipsum" in finding.evidence_text


# -- engine ----------------------------------------------------------------------------------------------


def _write_safetensors(path: Path) -> None:
    import numpy as np
    from safetensors.numpy import save_file

    save_file({"w": np.zeros((4, 4), dtype=np.float32), "b": np.ones(4, dtype=np.float32)}, str(path))


def test_engine_clean_folder_and_escaping_link(tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    _write_safetensors(model / "model.safetensors")
    (model / "config.json").write_text('{"model_type": "bert"}')
    os.symlink("/etc/passwd", model / "vocab.txt")
    os.symlink("model.safetensors", model / "alias.safetensors")
    report = scan_paths([str(model)])
    assert report.errors == []
    got = [(f.rule_id, f.file) for f in report.findings]
    assert got == [("WW-FS-002", f"{model}/alias.safetensors"), ("WW-FS-001", f"{model}/vocab.txt")]
    # The alias is read under its own name too (a loader opening it reads the same bytes).
    assert report.files_scanned == 3 and report.formats.get("safetensors") == 2


def test_engine_records_unreadable_files_and_keeps_findings(tmp_path: Path) -> None:
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF\x03\x00\x00\x00" + b"\x01" * 5)  # header cut short
    report = scan_paths([str(bad)])
    assert [e.file for e in report.errors] == [str(bad)]
    assert report.errors[0].reason


def test_engine_missing_target_is_an_error(tmp_path: Path) -> None:
    report = scan_paths([str(tmp_path / "nope")])
    assert report.findings == [] and len(report.errors) == 1 and "nope" in report.errors[0].file


def test_engine_pool_and_in_process_agree(tmp_path: Path) -> None:
    for i in range(30):
        (tmp_path / f"t{i:02d}.safetensors").write_bytes(b'\x08\x00\x00\x00\x00\x00\x00\x00{"a":1} ')
    single = scan_paths([str(tmp_path)], workers=1)
    pooled = scan_paths([str(tmp_path)], workers=2)
    assert single.findings and single.findings == pooled.findings
    assert [f.file for f in single.findings] == sorted(f.file for f in single.findings)
    assert single.errors == pooled.errors and single.formats == pooled.formats


def test_engine_artifact_level_helpers() -> None:
    artifact = Artifact(root="m", anomalies=[Anomaly("fs.special_file", "fifo", "not a regular file")])
    [finding] = evaluate_anomalies(artifact.anomalies)
    assert finding.rule_id == "WW-FS-003"


def test_every_rule_reachable_by_id() -> None:
    assert set(RULES_BY_ID) == {r.id for r in ALL_RULES}


def test_onnx_call_marked_local_by_reader_is_not_custom() -> None:
    code = CodeObject(
        CodeKind.ONNX_OP,
        "graph",
        details={"domain": "pkg.torch.2.5.0", "op_type": "SiLU_1", "count": 1, "local_function": True},
    )
    assert evaluate_entry(_entry(code, fmt=Format.ONNX), "m.onnx") == []


def test_link_named_on_command_line_is_scanned(tmp_path: Path) -> None:
    real = tmp_path / "blobs" / "abc123"
    real.parent.mkdir()
    real.write_bytes(b"\x80\x02cposix\nsystem\n(S'id'\ntR.")
    link = tmp_path / "model.pkl"
    os.symlink(real, link)
    report = scan_paths([str(link)])
    assert [(f.rule_id, f.file) for f in report.findings] == [("WW-PKL-001", str(link))]
    folder_link = tmp_path / "snapshot"
    os.symlink(real.parent, folder_link)
    report = scan_paths([str(folder_link)])
    assert [(f.rule_id, f.file) for f in report.findings] == [("WW-PKL-001", f"{folder_link}/abc123")]


@pytest.mark.skipif(
    __import__("multiprocessing").get_start_method(allow_none=False) != "fork",
    reason="the crash is injected by patching the module before workers fork",
)
def test_worker_crash_names_the_file_and_scans_the_rest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import weightwarden.scan.engine as engine

    original = engine.scan_file

    def crashing(found, file, strict, limits, *rest):
        if file.endswith("/crash.bin"):
            os._exit(3)  # what a segfault in a native reader looks like to the pool
        return original(found, file, strict, limits, *rest)

    crashing.__module__, crashing.__qualname__ = "weightwarden.scan.engine", "scan_file"
    monkeypatch.setattr(engine, "scan_file", crashing)
    for i in range(30):
        (tmp_path / f"f{i:02d}.pkl").write_bytes(b"\x80\x02cposix\nsystem\n(S'id'\ntR.")
    (tmp_path / "crash.bin").write_bytes(b"x")
    report = scan_paths([str(tmp_path)], workers=2)
    assert [e.file for e in report.errors] == [f"{tmp_path}/crash.bin"]
    assert "died" in report.errors[0].reason
    assert len({f.file for f in report.findings}) == 30
