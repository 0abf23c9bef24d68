"""Red team round 34 on the scanner's readers: a sibling a loader opens by name.

TF-Keras opens ``os.path.join(export_dir, "keras_metadata.pb")`` beside the ``saved_model.pb`` it loads and follows
links. The SavedModel reader looked for that sibling beside the *target* of a link (a hub cache's ``blobs/<hash>``)
and skipped a sibling that is a link: ``scan export/saved_model.pb`` gave 0 findings for L1-L4 and the hub-cache
layout while the victim's Keras decoding of the Lambda fired. Here every layout is scanned as a single file and as a
folder, and the victim opens ``<export_dir>/keras_metadata.pb`` by name, as TF-Keras does.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.test_readers_round31 import _f, _node
from tests.test_readers_round32 import (
    ACT,
    KERAS_METADATA_VICTIM,
    LAMBDA,
    _graph,
    _keras_metadata,
    _saved_model,
)
from weightwarden.core.findings import Severity
from weightwarden.scan import scan_paths

BENIGN_SM = _saved_model(_f(1, _f(4, b"serve")) + _f(2, _graph([_node(b"Placeholder"), _node(b"Identity")])))
PYFUNC_SM = _saved_model(_f(1, _f(4, b"serve")) + _f(2, _graph([_node(b"Placeholder"), _node(b"PyFunc")])))
ESCAPE = "WW-FS-001"
INNER = "WW-FS-002"


def _l1(base: Path) -> Path:
    """export/keras_metadata.pb -> ../shared/km.bin (a sibling link leaving the SavedModel folder)."""
    (base / "shared").mkdir(parents=True)
    (base / "shared" / "km.bin").write_bytes(_keras_metadata(ACT))
    (base / "export").mkdir()
    (base / "export" / "saved_model.pb").write_bytes(BENIGN_SM)
    os.symlink("../shared/km.bin", base / "export" / "keras_metadata.pb")
    return base / "export"


def _l2(base: Path) -> Path:
    """The hub cache: snapshots/<rev>/{saved_model.pb,keras_metadata.pb} -> ../../blobs/<hash>."""
    repo = base / "models--o--m"
    (repo / "blobs").mkdir(parents=True)
    (repo / "blobs" / "aaaa").write_bytes(BENIGN_SM)
    (repo / "blobs" / "bbbb").write_bytes(_keras_metadata(ACT))
    snap = repo / "snapshots" / "abc"
    snap.mkdir(parents=True)
    os.symlink("../../blobs/aaaa", snap / "saved_model.pb")
    os.symlink("../../blobs/bbbb", snap / "keras_metadata.pb")
    return snap


def _l3(base: Path) -> Path:
    """export/saved_model.pb -> ../store/sm.blob (the SavedModel a link); keras_metadata.pb a plain file."""
    (base / "store").mkdir(parents=True)
    (base / "store" / "sm.blob").write_bytes(BENIGN_SM)
    (base / "export").mkdir()
    os.symlink("../store/sm.blob", base / "export" / "saved_model.pb")
    (base / "export" / "keras_metadata.pb").write_bytes(_keras_metadata(ACT))
    return base / "export"


def _l4(base: Path) -> Path:
    """export/keras_metadata.pb -> assets/vocab.bin (a link inside the SavedModel folder)."""
    (base / "export" / "assets").mkdir(parents=True)
    (base / "export" / "assets" / "vocab.bin").write_bytes(_keras_metadata(ACT))
    (base / "export" / "saved_model.pb").write_bytes(BENIGN_SM)
    os.symlink("assets/vocab.bin", base / "export" / "keras_metadata.pb")
    return base / "export"


def _l5(base: Path) -> Path:
    """Both links: a SavedModel link to a blob in another folder, whose own folder has no metadata (the reader used
    to look beside the blob), and the metadata a link to a third folder."""
    (base / "store").mkdir(parents=True)
    (base / "store" / "saved_model.pb").write_bytes(BENIGN_SM)
    (base / "meta").mkdir()
    (base / "meta" / "km").write_bytes(_keras_metadata(ACT))
    (base / "export").mkdir()
    os.symlink("../store/saved_model.pb", base / "export" / "saved_model.pb")
    os.symlink("../meta/km", base / "export" / "keras_metadata.pb")
    return base / "export"


LAYOUTS: dict[str, Callable[[Path], Path]] = {"L1": _l1, "L2": _l2, "L3": _l3, "L4": _l4, "L5": _l5}


def _rules(path: Path) -> dict[str, Severity]:
    report = scan_paths([str(path)], workers=1)
    assert report.errors == [], report.errors
    out: dict[str, Severity] = {}
    for f in report.findings:
        if f.rule_id not in out or f.severity.rank > out[f.rule_id].rank:
            out[f.rule_id] = f.severity
    return out


def _lambdas(path: Path) -> int:
    return sum(f.rule_id == LAMBDA for f in scan_paths([str(path)], workers=1).findings)


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_saved_model_alone_reads_its_sibling_by_the_loader_name(tmp_path: Path, layout: str) -> None:
    export = LAYOUTS[layout](tmp_path)
    assert _rules(export / "saved_model.pb").get(LAMBDA) == Severity.CRITICAL
    assert _lambdas(export / "saved_model.pb") == 1


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("level", ["export", "parent"])
def test_folder_scans_report_the_lambda_once(tmp_path: Path, layout: str, level: str) -> None:
    export = LAYOUTS[layout](tmp_path)
    target = export if level == "export" else export.parent
    assert _rules(target).get(LAMBDA) == Severity.CRITICAL
    assert _lambdas(target) == 1


def test_the_links_are_reported_as_the_walk_reports_them(tmp_path: Path) -> None:
    # Leaving the SavedModel folder: high, and read; inside it: info; in a hub cache: the layout, nothing.
    assert _rules(_l1(tmp_path / "a") / "saved_model.pb").get(ESCAPE) == Severity.HIGH
    assert _rules(_l4(tmp_path / "b") / "saved_model.pb").get(INNER) == Severity.INFO
    hub = _rules(_l2(tmp_path / "c") / "saved_model.pb")
    assert ESCAPE not in hub and INNER not in hub


def test_an_absolute_sibling_link_is_high_not_read(tmp_path: Path) -> None:
    (tmp_path / "km.bin").write_bytes(_keras_metadata(ACT))
    export = tmp_path / "export"
    export.mkdir()
    (export / "saved_model.pb").write_bytes(BENIGN_SM)
    os.symlink(str(tmp_path / "km.bin"), export / "keras_metadata.pb")
    for target in (export / "saved_model.pb", export):
        found = _rules(target)
        assert found.get(ESCAPE) == Severity.HIGH, target
        assert LAMBDA not in found


@pytest.mark.parametrize("kind", ["broken", "loop", "folder"])
def test_sibling_links_a_loader_cannot_read_are_bounded(tmp_path: Path, kind: str) -> None:
    export = tmp_path / "export"
    export.mkdir()
    (export / "saved_model.pb").write_bytes(BENIGN_SM)
    if kind == "broken":
        os.symlink("missing.bin", export / "keras_metadata.pb")
    elif kind == "loop":
        os.symlink("keras_metadata.pb", export / "keras_metadata.pb")
    else:
        (export / "assets").mkdir()
        os.symlink("assets", export / "keras_metadata.pb")
    found = _rules(export / "saved_model.pb")  # no error, no hang; the link itself is reported
    assert found.get(INNER) == Severity.INFO


def test_a_fifo_sibling_is_never_opened(tmp_path: Path) -> None:
    export = tmp_path / "export"
    export.mkdir()
    (export / "saved_model.pb").write_bytes(BENIGN_SM)
    os.mkfifo(export / "km.fifo")
    os.symlink("km.fifo", export / "keras_metadata.pb")
    assert _rules(export / "saved_model.pb").get("WW-FS-003") == Severity.MEDIUM


def test_a_command_line_link_to_the_saved_model_reads_the_sibling_beside_the_link(tmp_path: Path) -> None:
    """The blob's folder holds a benign keras_metadata.pb: the one TF-Keras reads is beside the link's name."""
    (tmp_path / "store").mkdir()
    (tmp_path / "store" / "saved_model.pb").write_bytes(BENIGN_SM)
    (tmp_path / "store" / "keras_metadata.pb").write_bytes(b"")
    (tmp_path / "export").mkdir()
    os.symlink("../store/saved_model.pb", tmp_path / "export" / "saved_model.pb")
    (tmp_path / "export" / "keras_metadata.pb").write_bytes(_keras_metadata(ACT))
    assert _rules(tmp_path / "export" / "saved_model.pb").get(LAMBDA) == Severity.CRITICAL


def test_an_escaping_loader_named_link_in_a_folder_is_read(tmp_path: Path) -> None:
    """Class fix (3): the walk reads a relative link leaving the folder under a loader's name, and keeps the high."""
    (tmp_path / "store").mkdir()
    (tmp_path / "store" / "sm.blob").write_bytes(PYFUNC_SM)
    (tmp_path / "export").mkdir()
    os.symlink("../store/sm.blob", tmp_path / "export" / "saved_model.pb")
    found = _rules(tmp_path / "export")
    assert found.get(ESCAPE) == Severity.HIGH
    assert found.get("WW-TF-001") == Severity.CRITICAL


def test_escaping_links_without_a_loader_name_or_absolute_stay_unread(tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_text("secret")
    (tmp_path / "sm.pb").write_bytes(PYFUNC_SM)
    model = tmp_path / "model"
    model.mkdir()
    os.symlink("../secret.txt", model / "escape")
    os.symlink(str(tmp_path / "sm.pb"), model / "saved_model.pb")
    report = scan_paths([str(model)], workers=1)
    assert {f.rule_id for f in report.findings} == {ESCAPE}
    assert report.files_scanned == 0


def test_hub_cache_onnx_external_data_is_found_beside_the_snapshot_name(tmp_path: Path) -> None:
    """Audit: onnxruntime resolves external data from the model path it was given (the snapshot link), not from
    ``blobs/``; resolved from the blob, every hub-cache ONNX with external data was a false "escape"."""
    onnx = pytest.importorskip("onnx")
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(np.ones((4,), dtype=np.float32), "w")
    graph = helper.make_graph([helper.make_node("Add", ["x", "w"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])], [weight])
    model = helper.make_model(graph)
    work = tmp_path / "work"
    work.mkdir()
    onnx.save_model(model, str(work / "model.onnx"), save_as_external_data=True, all_tensors_to_one_file=True,
                    location="model.onnx_data", size_threshold=0)
    repo = tmp_path / "models--o--m"
    (repo / "blobs").mkdir(parents=True)
    os.replace(work / "model.onnx", repo / "blobs" / "h1")
    os.replace(work / "model.onnx_data", repo / "blobs" / "h2")
    snap = repo / "snapshots" / "r"
    snap.mkdir(parents=True)
    os.symlink("../../blobs/h1", snap / "model.onnx")
    os.symlink("../../blobs/h2", snap / "model.onnx_data")
    for target in (snap, snap / "model.onnx"):
        found = _rules(target)
        assert not any(sev.at_least(Severity.MEDIUM) for sev in found.values()), (target, found)


def test_siblings_in_scan_keys_by_the_loader_name(tmp_path: Path) -> None:
    from weightwarden.artifact.loader import siblings_in_scan
    from weightwarden.artifact.walk import DiscoveredFile

    snap = _l2(tmp_path)
    blobs = snap.parent.parent / "blobs"
    files = [DiscoveredFile(str(blobs / "aaaa"), "saved_model.pb", str(snap)),
             DiscoveredFile(str(blobs / "bbbb"), "keras_metadata.pb", str(snap))]
    assert siblings_in_scan(files) == frozenset({str(snap / "saved_model.pb")})


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_the_victim_reads_the_sibling_by_name(tmp_path: Path, layout: str, keras_env: dict[str, str]) -> None:
    """TF-Keras: ``gfile.GFile(os.path.join(export_dir, "keras_metadata.pb"))`` (links followed), SavedMetadata
    parsed by protobuf, ``config.function`` decoded by Keras's ``func_load`` (what ``Lambda.from_config`` calls)."""
    export = LAYOUTS[layout](tmp_path / "m")
    run = subprocess.run([sys.executable, "-c", KERAS_METADATA_VICTIM, str(export)], cwd=tmp_path, env=keras_env,
                         capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stderr[-2000:]
    assert (tmp_path / "canary").exists()
