"""Red team round 20 on the scanner's readers, class A (report: issues/rt-scanreaders-round20.md): files in the
folders and under the names the walk skips (.git, __pycache__, .DS_Store ...) were never read, but loaders reach
them: through a directory link inside the model folder (``weights -> .git``: only file links were followed) and
through a shard index (``pytorch_model.bin.index.json`` whose weight_map names ``.git/shard.bin`` or
``.DS_Store``: index files were not looked at).

Discovery is now the closure of what a loader can reach (weightwarden/artifact/walk.py): a directory link's tree
is walked under the link's name (loops, nesting and count bounded, each bound a finding), every ``*.index.json``
names shards that are read under the joined name (literal, backslash and percent-decoded forms), and a reference
into a skipped folder or name is WW-FS-007 (high). The skip itself is narrowed: model-named files in skipped
folders, and skipped names holding other content, are read (WW-FS-011).

Each malicious shape is proved against the real loader in a subprocess: pickle.load / torch.load(weights_only=False)
of the path a loader joins, and transformers' from_pretrained(weights_only=False) where it is installed. The
payload is ``touch canary`` in a per-case working folder; the canary must appear.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from weightwarden.artifact import open_artifact
from weightwarden.cli.main import main
from weightwarden.core.findings import Severity
from weightwarden.scan.engine import scan_paths

PKL, SKIP_REF, INDEX_ESCAPE, LOOP, SKIP_CONTENT, LIMIT = (
    "WW-PKL-001", "WW-FS-007", "WW-FS-008", "WW-FS-010", "WW-FS-011", "WW-GEN-001")
PAYLOAD = b"\x80\x02cposix\nsystem\nX\x0c\x00\x00\x00touch canary\x85R."  # os.system("touch canary")


class _Touch:
    """Pickled by torch.save into a checkpoint (its __reduce__ is what torch.load later calls); never loaded here."""

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, ("touch canary",))


def _torch_payload(path: Path) -> None:
    torch = pytest.importorskip("torch")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name("payload-tmp.bin")  # torch.save refuses a name starting with a dot (.DS_Store)
    torch.save({"w": torch.zeros(2), "x": _Touch()}, tmp)
    tmp.rename(path)


def _rules(path: Path, at_least: Severity = Severity.HIGH) -> set[str]:
    report = scan_paths([str(path)], workers=1)
    return {f.rule_id for f in report.findings if f.severity.at_least(at_least)} | {"error" for _ in report.errors}


def _strict_rc(path: Path) -> int:
    return CliRunner().invoke(main, ["scan", "--strict", "--fail-on", "info", str(path)]).exit_code


def _fires(code: str, *args: str, cwd: Path) -> bool:
    """Run ``code`` (a loader call) in a subprocess whose working folder is ``cwd``; True if ./canary appeared."""
    cwd.mkdir(parents=True, exist_ok=True)
    (cwd / "canary").unlink(missing_ok=True)
    subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=300, check=False,
                   cwd=cwd)
    return (cwd / "canary").exists()


def _pickle_load_fires(path: Path, cwd: Path) -> bool:
    return _fires("import pickle, sys\ntry:\n    pickle.load(open(sys.argv[1], 'rb'))\nexcept Exception:\n    pass",
                  str(path), cwd=cwd)


def _torch_load_fires(path: Path, cwd: Path) -> bool:
    pytest.importorskip("torch")
    return _fires("import sys, torch\ntry:\n    torch.load(sys.argv[1], weights_only=False)\nexcept Exception:\n"
                  "    pass", str(path), cwd=cwd)


# -- the PoCs -----------------------------------------------------------------------------------------------------------


def _a1(root: Path) -> Path:
    model = root / "model"
    (model / ".git").mkdir(parents=True)
    (model / ".git" / "model.pkl").write_bytes(PAYLOAD)
    (model / "config.json").write_text('{"model_type":"bert"}')
    os.symlink(".git", model / "weights")
    return model


def _a2(root: Path) -> Path:
    model = root / "model2"
    _torch_payload(model / "__pycache__" / "pytorch_model.bin")
    (model / "config.json").write_text('{"model_type":"bert"}')
    os.symlink("__pycache__", model / "ckpt")
    return model


def test_a1_dir_link_to_git(tmp_path: Path) -> None:
    model = _a1(tmp_path)
    assert _pickle_load_fires(model / "weights" / "model.pkl", tmp_path / "run")
    assert {PKL, SKIP_REF} <= _rules(model)
    assert _strict_rc(model) != 0
    report = scan_paths([str(model)], workers=1)
    assert f"{model}/weights/model.pkl" in {f.file for f in report.findings if f.rule_id == PKL}


def test_a2_dir_link_to_pycache(tmp_path: Path) -> None:
    model = _a2(tmp_path)
    assert _torch_load_fires(model / "ckpt" / "pytorch_model.bin", tmp_path / "run")
    assert {PKL, SKIP_REF} <= _rules(model)
    assert _strict_rc(model) != 0


def _bert_folder(folder: Path, shard: str, index_name: str = "pytorch_model.bin.index.json") -> Path:
    """The report's A3/A4: a tiny BERT whose index names ``shard`` (the real state dict plus a canary)."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    cfg = transformers.BertConfig(vocab_size=32, hidden_size=8, num_hidden_layers=1, num_attention_heads=1,
                                  intermediate_size=8, max_position_embeddings=16)
    cfg.save_pretrained(folder)
    sd = dict(transformers.BertModel(cfg).state_dict())
    (folder / shard).parent.mkdir(parents=True, exist_ok=True)
    torch.save({**sd, "canary": _Touch()}, folder / "shard-tmp.bin")  # torch.save refuses ".DS_Store"
    (folder / "shard-tmp.bin").rename(folder / shard)
    (folder / index_name).write_text(json.dumps({"metadata": {"total_size": 0}, "weight_map": dict.fromkeys(sd, shard)}))
    return folder


@pytest.mark.parametrize(("shard", "variant"), [(".git/pytorch_model-00001-of-00001.bin", ""), (".DS_Store", ""),
                                               ("__pycache__/w.bin", "fp16")], ids=["a3_git", "a4_ds_store", "variant"])
def test_a3_a4_index_into_skipped_with_from_pretrained(tmp_path: Path, shard: str, variant: str) -> None:
    index = f"pytorch_model.bin.index.{variant}.json" if variant else "pytorch_model.bin.index.json"
    folder = _bert_folder(tmp_path / "model", shard, index)
    code = ("import sys\nfrom transformers import BertModel\ntry:\n"
            "    BertModel.from_pretrained(sys.argv[1], weights_only=False, variant=sys.argv[2] or None)\n"
            "except Exception:\n    pass")
    assert _fires(code, str(folder), variant, cwd=tmp_path / "run")
    assert {PKL, SKIP_REF} <= _rules(folder)
    assert _strict_rc(folder) != 0


# -- shard-index variants -------------------------------------------------------------------------------------------
# (value written in the index, where the shard file lies): the shard lands where os.path.join(folder, value) opens,
# which is what transformers' loaders do; the victim torch.loads exactly that path.

INDEX_SHAPES = {
    "git": (".git/w.bin", ".git/w.bin"),
    "hg": (".hg/store/w.bin", ".hg/store/w.bin"),
    "svn": (".svn/w.bin", ".svn/w.bin"),
    "pycache": ("__pycache__/w.bin", "__pycache__/w.bin"),
    "ipynb": (".ipynb_checkpoints/w.bin", ".ipynb_checkpoints/w.bin"),
    "ds_store_dir": (".DS_Store/w.bin", ".DS_Store/w.bin"),
    "ds_store_name": (".DS_Store", ".DS_Store"),
    "gitattributes_name": (".gitattributes", ".gitattributes"),
    "git_no_model_ext": (".git/objects/ab/cdef01", ".git/objects/ab/cdef01"),
    "dotdot": ("sub/../.git/w.bin", ".git/w.bin"),
    "dot_slash": ("./.git//w.bin", ".git/w.bin"),
    "subfolder_dotdot": ("../.git/w.bin", ".git/w.bin"),  # index in unet/: the join climbs to the model root
}


@pytest.mark.parametrize("shape", sorted(INDEX_SHAPES))
def test_index_into_skipped_shapes(tmp_path: Path, shape: str) -> None:
    value, where = INDEX_SHAPES[shape]
    model = tmp_path / "model"
    base = model / "unet" if shape == "subfolder_dotdot" else model
    base.mkdir(parents=True)
    (model / "sub").mkdir(exist_ok=True)
    _torch_payload(model / where)
    (base / "pytorch_model.bin.index.json").write_text(json.dumps({"weight_map": {"a": value, "b": value}}))
    assert _torch_load_fires(Path(os.path.join(base, value)), tmp_path / "run")
    assert {PKL, SKIP_REF} <= _rules(model)
    assert _strict_rc(model) != 0


@pytest.mark.parametrize("index_name", [
    "model.safetensors.index.json", "adapter_model.safetensors.index.json", "adapter_model.bin.index.json",
    "diffusion_pytorch_model.bin.index.json", "diffusion_pytorch_model.safetensors.index.json",
    "tf_model.h5.index.json", "flax_model.msgpack.index.json", "Pytorch_Model.Bin.Index.JSON",
    "model.safetensors.index.fp16.json", "diffusion_pytorch_model.safetensors.index.fp16.json",
])
def test_every_index_name_is_followed(tmp_path: Path, index_name: str) -> None:
    model = tmp_path / "model"
    (model / "text_encoder").mkdir(parents=True)
    _torch_payload(model / "text_encoder" / "__pycache__" / "w.bin")
    (model / "text_encoder" / index_name).write_text(json.dumps({"weight_map": {"w": "__pycache__/w.bin"}}))
    assert {PKL, SKIP_REF} <= _rules(model)


def test_index_forms_backslash_and_percent_encoding(tmp_path: Path) -> None:
    """A Windows loader splits at backslashes; a hub request is percent-decoded: both forms are followed."""
    model = tmp_path / "model"
    _torch_payload(model / ".git" / "w.bin")
    for value in (".git\\w.bin", "%2Egit%2Fw.bin", ".git%5Cw.bin"):
        (model / "pytorch_model.bin.index.json").write_text(json.dumps({"weight_map": {"a": value}}))
        assert {PKL, SKIP_REF} <= _rules(model), value


def test_index_value_that_is_a_link_into_skipped(tmp_path: Path) -> None:
    model = tmp_path / "model"
    _torch_payload(model / ".git" / "w.bin")
    os.symlink(".git/w.bin", model / "shard.bin")
    (model / "pytorch_model.bin.index.json").write_text(json.dumps({"weight_map": {"a": "shard.bin"}}))
    assert _torch_load_fires(model / "shard.bin", tmp_path / "run")
    assert {PKL, SKIP_REF} <= _rules(model)


def test_nested_index_is_followed(tmp_path: Path) -> None:
    model = tmp_path / "model"
    _torch_payload(model / ".git" / "w.bin")
    (model / "inner").mkdir()
    (model / "inner" / "x.index.json").write_text(json.dumps({"weight_map": {"a": "../.git/w.bin"}}))
    (model / ".hg").mkdir()
    (model / ".hg" / "y.index.json").write_text(json.dumps({"weight_map": {"a": "../inner/x.index.json"}}))
    os.symlink(".hg/y.index.json", model / "model.safetensors.index.json")
    assert {PKL, SKIP_REF} <= _rules(model)


@pytest.mark.parametrize("value", ["../outside.bin", "/etc/hostname", "sub/../../outside.bin", "escape/w.bin"])
def test_index_escaping_the_folder_is_high(tmp_path: Path, value: str) -> None:
    model = tmp_path / "model"
    (model / "sub").mkdir(parents=True)
    (tmp_path / "outside.bin").write_bytes(PAYLOAD)
    os.symlink("..", model / "escape")
    (tmp_path / "w.bin").write_bytes(PAYLOAD)
    (model / "pytorch_model.bin.index.json").write_text(json.dumps({"weight_map": {"a": value}}))
    assert INDEX_ESCAPE in _rules(model) or "WW-FS-001" in _rules(model)
    assert _strict_rc(model) != 0


def test_index_naming_a_missing_shard_is_low(tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    (model / "model.safetensors.index.json").write_text(json.dumps({"weight_map": {"a": "nope.safetensors"}}))
    report = scan_paths([str(model)], workers=1)
    assert [(f.rule_id, f.severity) for f in report.findings] == [("WW-FS-009", Severity.LOW)]


# -- directory-link variants --------------------------------------------------------------------------------------


def test_nested_dir_link_chain_and_link_to_link(tmp_path: Path) -> None:
    model = tmp_path / "model"
    (model / ".git" / "deep").mkdir(parents=True)
    (model / ".git" / "deep" / "x.dat").write_bytes(PAYLOAD)  # no model extension: only the links reach it
    (model / "a").mkdir()
    os.symlink("../w2", model / "a" / "b")
    os.symlink(".git", model / "w2")
    assert _pickle_load_fires(model / "a" / "b" / "deep" / "x.dat", tmp_path / "run")
    report = scan_paths([str(model)], workers=1)
    assert f"{model}/a/b/deep/x.dat" in {f.file for f in report.findings if f.rule_id == PKL}
    assert SKIP_REF in {f.rule_id for f in report.findings}


def test_link_inside_a_skipped_folder_to_another(tmp_path: Path) -> None:
    model = tmp_path / "model"
    (model / "__pycache__").mkdir(parents=True)
    (model / "__pycache__" / "x.dat").write_bytes(PAYLOAD)
    (model / ".git").mkdir()
    os.symlink("../__pycache__", model / ".git" / "hop")
    os.symlink(".git", model / "w")
    assert _pickle_load_fires(model / "w" / "hop" / "x.dat", tmp_path / "run")
    assert {PKL, SKIP_REF} <= _rules(model)


def test_link_to_a_skipped_subfolder(tmp_path: Path) -> None:
    model = tmp_path / "model"
    (model / ".git" / "refs").mkdir(parents=True)
    (model / ".git" / "refs" / "x.dat").write_bytes(PAYLOAD)
    os.symlink(".git/refs", model / "w")
    assert {PKL, SKIP_REF} <= _rules(model)


@pytest.mark.parametrize("target", [".", "..", "../..", "../../a"])
def test_link_loops_are_found_and_end(tmp_path: Path, target: str) -> None:
    model = tmp_path / "model"
    (model / "a" / "b").mkdir(parents=True)
    (model / "a" / "b" / "w.pkl").write_bytes(PAYLOAD)
    os.symlink(target, model / "a" / "b" / "loop")
    rules = _rules(model, Severity.MEDIUM)
    assert PKL in rules and (LOOP in rules or "WW-FS-001" in rules)


def test_link_nesting_bound_is_a_finding(tmp_path: Path) -> None:
    model = tmp_path / "model"
    (model / "d0").mkdir(parents=True)
    for i in range(20):  # d0/n -> ../d1, d1/n -> ../d2 ...: 20 nested links, no loop
        (model / f"d{i + 1}").mkdir()
        os.symlink(f"../d{i + 1}", model / f"d{i}" / "n")
    assert LIMIT in _rules(model)


def test_link_fan_out_bound_is_a_finding(tmp_path: Path) -> None:
    model = tmp_path / "model"
    for i in range(14):  # two links per level to the next: 2**13 paths, no loop
        (model / f"d{i}").mkdir(parents=True)
    for i in range(13):
        os.symlink(f"../d{i + 1}", model / f"d{i}" / "l")
        os.symlink(f"../d{i + 1}", model / f"d{i}" / "r")
    assert LIMIT in _rules(model)


# -- the skip list, narrowed -----------------------------------------------------------------------------------------


def test_model_named_file_in_a_skipped_folder_is_read(tmp_path: Path) -> None:
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / "w.pt").write_bytes(PAYLOAD)
    assert {PKL} <= _rules(tmp_path)
    assert SKIP_CONTENT in _rules(tmp_path, Severity.MEDIUM)


@pytest.mark.parametrize("name", [".DS_Store", ".gitattributes"])
def test_skipped_name_holding_a_pickle_is_read(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_bytes(PAYLOAD)
    assert {PKL} <= _rules(tmp_path)
    assert SKIP_CONTENT in _rules(tmp_path, Severity.MEDIUM)
    assert _pickle_load_fires(tmp_path / name, tmp_path / "run")


def test_gitattributes_holding_a_printable_protocol0_pickle_is_read(tmp_path: Path) -> None:
    (tmp_path / ".gitattributes").write_bytes(b"cposix\nsystem\n(S'touch canary'\ntR.")
    assert _pickle_load_fires(tmp_path / ".gitattributes", tmp_path / "run")
    assert {PKL} <= _rules(tmp_path)


def test_hidden_files_not_on_the_skip_list_are_read(tmp_path: Path) -> None:
    (tmp_path / ".cache").mkdir()
    (tmp_path / ".cache" / "x.dat").write_bytes(PAYLOAD)
    (tmp_path / ".hidden").write_bytes(PAYLOAD)
    report = scan_paths([str(tmp_path)], workers=1)
    assert {f.file.rsplit("/", 1)[-1] for f in report.findings if f.rule_id == PKL} == {"x.dat", ".hidden"}


# -- benign folders stay clean ------------------------------------------------------------------------------------


def _benign_repo(model: Path) -> None:
    import numpy as np
    from safetensors.numpy import save_file

    model.mkdir(parents=True)
    for i in (1, 2):
        save_file({f"w{i}": np.zeros(4, dtype=np.float32)}, str(model / f"model-0000{i}-of-00002.safetensors"))
    (model / "model.safetensors.index.json").write_text(json.dumps(
        {"metadata": {"total_size": 32}, "weight_map": {"w1": "model-00001-of-00002.safetensors",
                                                         "w2": "model-00002-of-00002.safetensors"}}))
    (model / "config.json").write_text('{"model_type": "bert"}')
    (model / ".gitattributes").write_text("*.safetensors filter=lfs diff=lfs merge=lfs -text\n")
    (model / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1" + bytes(100))
    git = model / ".git"
    (git / "objects" / "ab").mkdir(parents=True)
    (git / "objects" / "ab" / "cdef0123").write_bytes(b"x\x9c" + bytes(30))
    (git / "HEAD").write_text("ref: refs/heads/main\n")
    (git / "lfs" / "objects" / "12" / "34").mkdir(parents=True)
    (git / "lfs" / "objects" / "12" / "34" / "1234abcd").write_bytes(PAYLOAD)  # an lfs object: read through no name
    (model / "__pycache__").mkdir()
    (model / "__pycache__" / "modeling.cpython-312.pyc").write_bytes(b"\xcb\r\r\n" + bytes(40))
    (model / ".ipynb_checkpoints").mkdir()
    (model / ".ipynb_checkpoints" / "demo-checkpoint.ipynb").write_text("{}")


def test_benign_repository_with_git_and_pycache_is_clean(tmp_path: Path) -> None:
    pytest.importorskip("safetensors")
    model = tmp_path / "model"
    _benign_repo(model)
    report = scan_paths([str(model)], workers=1)
    assert report.findings == [] and report.errors == []
    assert report.files_scanned == 4  # two shards, the index, config.json
    assert _strict_rc(model) == 0


def test_benign_directory_alias_reads_each_file_once(tmp_path: Path) -> None:
    model = tmp_path / "run"
    (model / "checkpoint-10").mkdir(parents=True)
    (model / "checkpoint-10" / "config.json").write_text("{}")
    os.symlink("checkpoint-10", model / "latest")
    report = scan_paths([str(model)], workers=1)
    assert [(f.rule_id, f.severity) for f in report.findings] == [("WW-FS-002", Severity.INFO)]
    assert report.files_scanned == 1


def test_git_annex_links_are_read_without_the_skip_finding(tmp_path: Path) -> None:
    model = tmp_path / "model"
    key = "SHA256E-s10--0123abcd.pkl"
    obj = model / ".git" / "annex" / "objects" / "Xx" / "Yy" / key
    obj.mkdir(parents=True)
    (obj / key).write_bytes(pickle.dumps({"w": [1.0]}, protocol=2))
    os.symlink(f".git/annex/objects/Xx/Yy/{key}/{key}", model / "weights.pkl")
    artifact = open_artifact(str(model))
    assert [e.path for e in artifact.entries] == ["weights.pkl"]
    assert [a.code for a in artifact.anomalies] == ["fs.symlink"]
