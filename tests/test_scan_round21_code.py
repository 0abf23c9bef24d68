"""Red team round 21 on the scanner's readers, classes A and B (report: issues/rt-scanreaders-round21.md): code
shipped with a model.

A: a torch.package archive (written by torch's own ``PackageExporter``) ships ``collections/__init__.py``; its
pickle calls the allowlisted ``collections.OrderedDict``, and ``PackageImporter.load_pickle`` resolves that
against the archive first and runs the shipped source. The scan said "0 findings". Now a torch.package is
recognised by its structure (``.data/extern_modules``), every shipped module is a finding (high; critical under
a standard-library or trusted name), and its pickles' globals are judged as the shipped code (WW-PKL-014).

B: ``hubconf.py`` (``torch.hub.load(dir, source='local')``, no trust prompt) was read as text and judged by
nothing. Now every Python source, bytecode and native module in a folder or archive is a finding whose severity
says who runs it without opt-in (docs/decisions.md has the table).

Victim proofs run the real loaders (torch.package, torch.hub, both in torch) in a subprocess whose working
directory is a tmp folder; the canary is ``./canary``.
"""

from __future__ import annotations

import io
import json
import tarfile
import zipfile
from pathlib import Path

import pytest

from tests.adversarial.generate import ACT, r21_global_pickle, r21_torch_package
from tests.scan_rounds import strict_cli_rc, victim_leaves_canary
from weightwarden.core.findings import Severity
from weightwarden.scan.engine import scan_paths

SHADOW = ACT + "\nfrom _collections import OrderedDict\n"


def _findings(path: Path) -> list[tuple[str, Severity, str]]:
    report = scan_paths([str(path)], workers=1)
    assert not report.errors, report.errors
    return [(f.rule_id, f.severity, f.file) for f in report.findings]


def _rules(path: Path) -> dict[str, Severity]:
    out: dict[str, Severity] = {}
    for rule, severity, _file in _findings(path):
        if rule not in out or severity.at_least(out[rule]):
            out[rule] = severity
    return out






def _exported_package(path: Path) -> None:
    """The PoC of the report, written by torch's own PackageExporter."""
    pytest.importorskip("torch.package")
    import collections

    from torch.package import PackageExporter

    with PackageExporter(str(path)) as exporter:
        exporter.save_source_string("collections", SHADOW, is_package=True)
        exporter.save_pickle("model", "model.pkl", collections.OrderedDict(w=[1.0, 2.0]))


# --- class A: torch.package -------------------------------------------------------------------------------


def test_exported_torch_package_poc(tmp_path: Path) -> None:
    pkg = tmp_path / "model.pt"
    _exported_package(pkg)
    rules = _rules(pkg)
    assert rules.get("WW-PKL-014") == Severity.CRITICAL, rules
    assert rules.get("WW-CODE-001") == Severity.CRITICAL, rules
    assert strict_cli_rc(pkg) != 0
    folder = tmp_path / "pdir"
    folder.mkdir()
    (folder / "model.pt").write_bytes(pkg.read_bytes())
    (folder / "config.json").write_text('{"architectures": ["Net"]}')
    assert _rules(folder).get("WW-PKL-014") == Severity.CRITICAL
    assert strict_cli_rc(folder) != 0
    run = tmp_path / "run"
    run.mkdir()
    assert victim_leaves_canary(f"from torch.package import PackageImporter as I; I({str(pkg)!r}).load_pickle('model', 'model.pkl')", run)


def test_torch_package_recognised_by_structure_not_name(tmp_path: Path) -> None:
    """Any file name, any root folder name, any resource name: the .data/extern_modules record decides."""
    data = r21_torch_package({"collections/__init__.py": SHADOW}, r21_global_pickle("collections", "OrderedDict"))
    path = tmp_path / "weights.bin"
    path.write_bytes(data)
    assert _rules(path).get("WW-PKL-014") == Severity.CRITICAL
    run = tmp_path / "run"
    run.mkdir()
    assert victim_leaves_canary(f"from torch.package import PackageImporter as I; I({str(path)!r}).load_pickle('model', 'model.pkl')", run)


def test_own_module_is_high_and_unshipped_names_keep_the_allowlist(tmp_path: Path) -> None:
    data = r21_torch_package({"mymodel/__init__.py": "", "mymodel/net.py": "Net = dict\n"},
                             r21_global_pickle("mymodel.net", "Net"))
    path = tmp_path / "p.pt"
    path.write_bytes(data)
    rules = _rules(path)
    assert rules.get("WW-PKL-014") == Severity.HIGH and rules.get("WW-CODE-002") == Severity.HIGH, rules
    assert "WW-CODE-001" not in rules
    # collections is not shipped here: collections.OrderedDict is judged as the installed library (allowlisted).
    data = r21_torch_package({"mymodel/__init__.py": ""}, r21_global_pickle("collections", "OrderedDict"),
                             extern=("collections",))
    path.write_bytes(data)
    assert "WW-PKL-014" not in _rules(path)


def test_torch_package_folder_form(tmp_path: Path) -> None:
    """PackageImporter(dir) reads a folder through its DirectoryReader: the same layout unzipped."""
    root = tmp_path / "pkg"
    with zipfile.ZipFile(io.BytesIO(r21_torch_package(
            {"collections/__init__.py": SHADOW}, r21_global_pickle("collections", "OrderedDict")))) as archive:
        archive.extractall(tmp_path / "x")
    (tmp_path / "x" / "archive").rename(root)
    rules = _rules(root)
    assert rules.get("WW-CODE-001") == Severity.CRITICAL, rules
    assert strict_cli_rc(root) != 0
    run = tmp_path / "run"
    run.mkdir()
    assert victim_leaves_canary(f"from torch.package import PackageImporter as I; I({str(root)!r}).load_pickle('model', 'model.pkl')", run)


def test_benign_torch_package_without_code_is_clean(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    from torch.package import PackageExporter

    path = tmp_path / "plain.pt"
    with PackageExporter(str(path)) as exporter:
        exporter.extern("torch.**")
        exporter.save_pickle("model", "model.pkl", {"w": torch.zeros(2)})
    noisy = [f for f in _findings(path) if f[1].at_least(Severity.LOW)]
    assert not noisy, noisy


# --- class B: Python files loaders import by name ---------------------------------------------------------


def _hubrepo(root: Path, helper: bool = False) -> Path:
    root.mkdir()
    body = "import helper\n" if helper else ACT + "\n"
    (root / "hubconf.py").write_text(f"dependencies = []\n{body}\ndef model():\n    return {{'w': 1}}\n")
    (root / "config.json").write_text('{"architectures": ["X"]}')
    if helper:
        (root / "helper.py").write_text(ACT + "\n")
    return root


def test_hubconf_poc(tmp_path: Path) -> None:
    repo = _hubrepo(tmp_path / "hubrepo")
    assert _rules(repo).get("WW-CODE-003") == Severity.HIGH
    assert strict_cli_rc(repo) != 0
    run = tmp_path / "run"
    run.mkdir()
    assert victim_leaves_canary(f"import torch; torch.hub.load({str(repo)!r}, 'model', source='local')", run)


def test_hubconf_folder_is_on_sys_path(tmp_path: Path) -> None:
    """torch.hub puts the folder first on sys.path: a module beside hubconf.py is as trusted as hubconf.py."""
    repo = _hubrepo(tmp_path / "hubrepo", helper=True)
    found = {(r, Path(f).name): s for r, s, f in _findings(repo)}
    assert found.get(("WW-CODE-003", "helper.py")) == Severity.HIGH, found
    run = tmp_path / "run"
    run.mkdir()
    assert victim_leaves_canary(f"import torch; torch.hub.load({str(repo)!r}, 'model', source='local')", run)


def test_code_files_by_loader_context(tmp_path: Path) -> None:
    # transformers auto_map: trust_remote_code (medium, like WW-GEN-002).
    hf = tmp_path / "hf"
    (hf / "custom_generate").mkdir(parents=True)
    (hf / "config.json").write_text(json.dumps({"auto_map": {"AutoModel": "modeling_x.Model"}}))
    (hf / "modeling_x.py").write_text("class Model: ...\n")
    (hf / "custom_generate" / "generate.py").write_text("def generate(model, **kw): ...\n")
    (hf / "_ext.cpython-311-x86_64-linux-gnu.so").write_bytes(b"\x7fELF" + b"\0" * 60)
    (hf / "cached.pyc").write_bytes(b"\xa7\r\r\n" + b"\0" * 12)
    found = {(r, Path(f).name): s for r, s, f in _findings(hf) if r.startswith("WW-CODE")}
    assert found == {
        ("WW-CODE-004", "modeling_x.py"): Severity.MEDIUM,
        ("WW-CODE-004", "generate.py"): Severity.MEDIUM,
        ("WW-CODE-004", "_ext.cpython-311-x86_64-linux-gnu.so"): Severity.MEDIUM,
        ("WW-CODE-004", "cached.pyc"): Severity.MEDIUM,
    }, found
    assert _rules(hf).get("WW-GEN-002") == Severity.MEDIUM
    # sentence-transformers: custom module types load from a local folder without trust_remote_code (3.4-5.x).
    st = tmp_path / "st"
    st.mkdir()
    (st / "modules.json").write_text(json.dumps([{"idx": 0, "name": "0", "path": "", "type": "custom_st.Transformer"}]))
    (st / "custom_st.py").write_text("class Transformer: ...\n")
    assert _rules(st).get("WW-CODE-003") == Severity.HIGH
    # diffusers: a local pipeline folder's custom component is imported without the hub path's trust check.
    df = tmp_path / "df"
    (df / "unet").mkdir(parents=True)
    (df / "model_index.json").write_text(json.dumps({"_class_name": "DiffusionPipeline", "unet": ["my_unet", "MyUNet"]}))
    (df / "unet" / "my_unet.py").write_text("class MyUNet: ...\n")
    assert _rules(df).get("WW-CODE-003") == Severity.HIGH


def test_code_in_archives(tmp_path: Path) -> None:
    mar = tmp_path / "model.mar"
    with zipfile.ZipFile(mar, "w") as archive:
        archive.writestr("MAR-INF/MANIFEST.json", json.dumps({"model": {"handler": "handler.py"}}))
        archive.writestr("handler.py", "def handle(data, context): ...\n")
        archive.writestr("model.safetensors", b"")
    assert _rules(mar).get("WW-CODE-003") == Severity.HIGH
    tgz = tmp_path / "repo.tar.gz"
    with tarfile.open(tgz, "w:gz") as archive:
        for name, text in (("repo/hubconf.py", "def model(): ...\n"), ("repo/util.py", "x = 1\n")):
            info = tarfile.TarInfo(name)
            info.size = len(text)
            archive.addfile(info, io.BytesIO(text.encode()))
    assert _rules(tgz).get("WW-CODE-003") == Severity.HIGH
    plain = tmp_path / "extras.zip"
    with zipfile.ZipFile(plain, "w") as archive:
        archive.writestr("tools/convert.py", "print('hi')\n")
    assert _rules(plain).get("WW-CODE-004") == Severity.MEDIUM
