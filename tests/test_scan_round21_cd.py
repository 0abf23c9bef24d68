"""Red team round 21 on the scanner's readers, classes C and D (report: issues/rt-scanreaders-round21.md).

C: a zstd-compressed pickle (``model.pkl.zst``) was "unknown format" (info): the compressed reader had no zstd, and
``.zst`` is no model extension, while ``pickle.load(fsspec.open(p, "rb", compression="infer").open())`` runs it.
Every codec fsspec/pandas/joblib/numpy pick by extension or magic is now decoded (zstd via the decoder fsspec
uses, brotli by name), under the compressed reader's bomb bounds, and its output is sniffed and read like any
decompressed stream; a codec recognised but not decodable (lz4 legacy, snappy) is WW-ARC-004 (high), and a file
under a compression extension whose content we cannot decode is WW-ARC-002 (medium), never WW-FS-004 (info).

D: the walk read a file once per (real path, base name), assuming readers route by base name only; but
``additional_chat_templates/<name>.jinja`` is a chat template by its folder. A root ``tool_use.jinja`` with a link
to it under ``additional_chat_templates/`` was read once, as text. The key is now the readers' own routing
(:func:`weightwarden.artifact.sniff.routing_key`), checked here against every routing rule.

Victim proofs run the real loader in a subprocess whose working folder holds the canary: ``touch canary`` must
create it (fsspec for C; transformers' AutoTokenizer for D, which only shows the template is loaded: nothing
executes there).
"""

from __future__ import annotations

import ast
import bz2
import gzip
import lzma
import os
import pickle
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from click.testing import CliRunner

from weightwarden.artifact import loader, sniff
from weightwarden.artifact.loader import discover, read_file
from weightwarden.artifact.model import Artifact
from weightwarden.artifact.readers import compressed, hf_config
from weightwarden.artifact.source import Source
from weightwarden.artifact.walk import INDEX_NAME
from weightwarden.cli.main import main
from weightwarden.core.findings import Severity
from weightwarden.scan.engine import scan_paths

PKL, TPL, UNREADABLE, MALFORMED, HIDDEN, BOMB = (
    "WW-PKL-001", "WW-TPL-001", "WW-ARC-004", "WW-ARC-002", "WW-ARC-003", "WW-ARC-007")
PAYLOAD = b"\x80\x04cposix\nsystem\nX\x0c\x00\x00\x00touch canary\x85R."  # os.system("touch canary")
SAFE = pickle.dumps({"w": [1.0, 2.0], "name": "layer"}, protocol=4)


def _zstd():  # type: ignore[no-untyped-def]
    if sys.version_info >= (3, 14):
        from compression import zstd  # type: ignore[import-not-found]
    else:
        zstd = pytest.importorskip("backports.zstd")
    return zstd


def _findings(path: Path, *, clean_read: bool = False) -> list:  # type: ignore[type-arg]
    report = scan_paths([str(path)], workers=1)
    if clean_read:
        assert not report.errors, report.errors
    return report.findings


def _rules(path: Path, at_least: Severity = Severity.MEDIUM) -> set[str]:
    return {f.rule_id for f in _findings(path) if f.severity.at_least(at_least)}


def _strict_rc(path: Path) -> int:
    return CliRunner().invoke(main, ["scan", "--strict", "--fail-on", "info", str(path)]).exit_code


def _fires(code: str, path: Path, cwd: Path) -> bool:
    cwd.mkdir(parents=True, exist_ok=True)
    (cwd / "canary").unlink(missing_ok=True)
    subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=300, check=False,
                   cwd=cwd)
    return (cwd / "canary").exists()


_FSSPEC_LOAD = ("import fsspec, pickle, sys\ntry:\n    pickle.load(fsspec.open(sys.argv[1], 'rb', compression='infer')"
                ".open())\nexcept Exception:\n    pass")


# -- class C: the PoC and every codec a loader infers ------------------------------------------------------------------


def test_c_zstd_pickle_poc(tmp_path: Path) -> None:
    pytest.importorskip("fsspec")
    path = tmp_path / "model.pkl.zst"
    path.write_bytes(_zstd().compress(PAYLOAD))
    assert _fires(_FSSPEC_LOAD, path, tmp_path / "run")
    assert PKL in _rules(path, Severity.CRITICAL)
    assert _strict_rc(path) != 0
    folder = tmp_path / "zdir"
    folder.mkdir()
    (folder / "config.json").write_text('{"model_type": "sklearn"}')
    (folder / "model.pkl.zst").write_bytes(path.read_bytes())
    assert PKL in _rules(folder, Severity.CRITICAL)
    assert _strict_rc(folder) != 0


def test_c_every_codec_fsspec_infers_is_decoded(tmp_path: Path) -> None:
    """The class: each extension fsspec infers a codec from, written by fsspec itself, loads the payload (proved)
    and is critical in the scan. zip is an archive (the zip reader's), not a stream."""
    fsspec = pytest.importorskip("fsspec")
    from fsspec.utils import compressions

    assert set(compressions.values()) - {"zip"} <= set(sniff.COMPRESSION_EXTENSIONS.values())
    for ext, codec in sorted(compressions.items()):
        assert sniff.compression_by_name(f"w.pkl.{ext}") == ("zip" if codec == "zip" else codec)
        if codec == "zip":
            continue
        path = tmp_path / f"model.pkl.{ext}"
        with fsspec.open(str(path), "wb", compression="infer") as f:
            f.write(PAYLOAD)
        assert _fires(_FSSPEC_LOAD, path, tmp_path / f"run-{ext}"), ext
        assert PKL in _rules(path, Severity.CRITICAL), ext


def _lz4(data: bytes) -> bytes:
    import lz4.frame

    return lz4.frame.compress(data)


def _brotli(data: bytes) -> bytes:
    brotli = pytest.importorskip("brotli")
    return brotli.compress(data)


# (file name, compress): joblib's and numpy's codecs by magic, and the ones only a name selects (brotli).
CODECS = [
    ("m.pkl.gz", gzip.compress), ("m.pkl.bz2", bz2.compress), ("m.pkl.xz", lzma.compress),
    ("m.pkl.lzma", lambda d: lzma.compress(d, format=lzma.FORMAT_ALONE)), ("m.pkl.z", zlib.compress),
    ("m.pkl.lz4", _lz4), ("m.pkl.zst", lambda d: _zstd().compress(d)), ("m.pkl.zstd", lambda d: _zstd().compress(d)),
    ("m.pkl.br", _brotli), ("m.joblib", lambda d: _zstd().compress(d)),  # zstd by magic under any name
]


@pytest.mark.parametrize(("name", "compress"), CODECS, ids=[c[0] for c in CODECS])
def test_c_payload_in_every_codec_is_critical(tmp_path: Path, name: str, compress) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / name
    path.write_bytes(compress(PAYLOAD))
    assert PKL in _rules(path, Severity.CRITICAL)


@pytest.mark.parametrize(("name", "compress"), CODECS, ids=[c[0] for c in CODECS])
def test_c_benign_compressed_content_stays_clean(tmp_path: Path, name: str, compress) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / name
    path.write_bytes(compress(SAFE))
    assert _findings(path, clean_read=True) == []


def test_c_zstd_frames_skippable_and_multi(tmp_path: Path) -> None:
    zstd = _zstd()
    skippable = b"\x5a\x2a\x4d\x18" + (4).to_bytes(4, "little") + b"junk"
    (tmp_path / "a.bin").write_bytes(skippable + zstd.compress(PAYLOAD))
    # The payload split over two frames: ZstdFile (fsspec) decodes across them.
    (tmp_path / "b.bin").write_bytes(zstd.compress(PAYLOAD[:10]) + zstd.compress(PAYLOAD[10:]))
    for name in ("a.bin", "b.bin"):
        assert PKL in _rules(tmp_path / name, Severity.CRITICAL), name


def test_c_zstd_bounds_and_damage(tmp_path: Path) -> None:
    zstd = _zstd()
    bomb = tmp_path / "bomb.zst"
    bomb.write_bytes(zstd.compress(b"\x00" * (64 * 1024 * 1024)))  # > RATIO_FLOOR, far past 1000x
    assert BOMB in _rules(bomb, Severity.HIGH)
    data = zstd.compress(PAYLOAD + os.urandom(4096))
    (tmp_path / "cut.zst").write_bytes(data[:-6])
    rules = _rules(tmp_path / "cut.zst")
    assert MALFORMED in rules and PKL in rules  # truncated: reported, and what was decoded is still read
    (tmp_path / "tail.zst").write_bytes(data + b"NOT A FRAME")
    assert {HIDDEN, PKL} <= _rules(tmp_path / "tail.zst")


@pytest.mark.parametrize("head", [b"\x02\x21\x4c\x18", b"\xff\x06\x00\x00sNaPpY"], ids=["lz4-legacy", "snappy"])
def test_c_codec_we_cannot_decode_is_high_not_info(tmp_path: Path, head: bytes) -> None:
    path = tmp_path / "blob.bin"
    path.write_bytes(head + os.urandom(200))
    assert UNREADABLE in _rules(path, Severity.HIGH)
    assert _strict_rc(path) != 0


@pytest.mark.parametrize("ext", sorted(sniff.COMPRESSION_EXTENSIONS))
def test_c_compression_extension_with_undecodable_content_is_at_least_medium(tmp_path: Path, ext: str) -> None:
    path = tmp_path / f"weights{ext}"
    path.write_bytes(b"\x00\x01\x02\xfe" * 64)  # no magic, no text: "unknown" by content
    findings = _findings(path)
    assert findings and all(f.rule_id != "WW-FS-004" for f in findings)
    assert any(f.severity.at_least(Severity.MEDIUM) for f in findings), [f.rule_id for f in findings]


def test_c_magic_tables_agree() -> None:
    """Every compressor magic the sniffer routes to the compressed reader is one it recognises, and every codec
    a name selects is decoded or reported unsupported (never an unhandled kind)."""
    for magic in sniff.COMPRESSED_MAGICS:
        assert compressed.detect(magic + b"\x00" * 16) is not None, magic
    for codec in set(sniff.COMPRESSION_EXTENSIONS.values()) - {"zip", "tar"}:
        try:
            compressed._opener(codec)
        except compressed._Unsupported:
            assert codec in ("snappy",), codec  # the decoders of the rest are dependencies


# -- class D: the walk dedupes by the readers' routing --------------------------------------------------------------------

TEMPLATE = "{% for m in messages %}{{ m.content.__class__.__mro__[1].__subclasses__() }}{% endfor %}"


def _template_folder(root: Path) -> Path:
    model = root / "m"
    (model / "additional_chat_templates").mkdir(parents=True)
    (model / "tool_use.jinja").write_text(TEMPLATE)
    os.symlink("../tool_use.jinja", model / "additional_chat_templates" / "tool_use.jinja")
    (model / "tokenizer_config.json").write_text('{"model_max_length": 512}')
    return model


def test_d_template_reached_through_a_link_poc(tmp_path: Path) -> None:
    model = _template_folder(tmp_path)
    assert TPL in _rules(model, Severity.CRITICAL)
    assert _strict_rc(model) != 0


def test_d_transformers_loads_the_linked_template(tmp_path: Path) -> None:
    pytest.importorskip("transformers")
    pytest.importorskip("tokenizers")
    model = _template_folder(tmp_path)
    code = (
        "import sys\nfrom tokenizers import Tokenizer, models, pre_tokenizers\n"
        "from transformers import AutoTokenizer, PreTrainedTokenizerFast\n"
        "tk = Tokenizer(models.WordLevel({'[UNK]': 0, 'hi': 1}, unk_token='[UNK]'))\n"
        "tk.pre_tokenizer = pre_tokenizers.Whitespace()\n"
        "PreTrainedTokenizerFast(tokenizer_object=tk, unk_token='[UNK]').save_pretrained(sys.argv[1])\n"
        "t = AutoTokenizer.from_pretrained(sys.argv[1])\n"
        "ct = t.chat_template if isinstance(t.chat_template, dict) else {}\n"
        "print('LOADED' if '__subclasses__' in ct.get('tool_use', '') else 'NOT')\n"
    )
    run = subprocess.run([sys.executable, "-c", code, str(model)], capture_output=True, text=True, timeout=300,
                         check=False, cwd=tmp_path)
    assert "LOADED" in run.stdout, run.stdout + run.stderr[-2000:]
    assert TPL in _rules(model, Severity.CRITICAL)


def _routed_paths() -> list[str]:
    """One path per routing rule the readers apply to names and folders (sniff.py, loader.py, hf_config)."""
    paths = list(sniff.TEMPLATE_NAMES) + ["additional_chat_templates/tool_use.jinja"]
    paths += sorted(sniff.TEMPLATE_CONFIG_NAMES | sniff.LOADER_JSON_NAMES | hf_config.LOADER_CONFIG_NAMES)
    paths += ["model.safetensors", "model.safetensors.index.json", "model.safetensors.index.fp16.json"]
    paths += [f"w{ext}" for ext in sorted(loader.MODEL_EXTENSIONS)]
    paths += [f"w{ext}" for ext in sorted(sniff.COMPRESSION_EXTENSIONS)]
    return paths


def _layouts(routed: str) -> list[tuple[str, dict[str, str]]]:
    """(real file, {link: target}) layouts where the real file and a link share the base name of ``routed``."""
    base = routed.rsplit("/", 1)[-1]
    if "/" in routed:
        folder = routed.rsplit("/", 1)[0]
        return [
            (base, {routed: f"../{base}"}),  # the report's PoC: the root file is read first
            (routed, {base: routed}),  # reversed
            (f"store/{base}", {folder: "store"}),  # a directory link under the routed folder name
        ]
    return [(f"aa/{base}", {routed: f"aa/{base}"}), (routed, {f"aa/{base}": f"../{base}"})]


@pytest.mark.parametrize("routed", _routed_paths())
def test_d_every_routing_survives_a_link_alias(tmp_path: Path, routed: str) -> None:
    """For each routing rule, a link alias under the routed name is read with that routing (or the file is read
    under a path the readers route identically): the dedupe never hides a routing."""
    data = b"\x00\x01binary\xfe" * 8 + TEMPLATE.encode()
    for n, (real, links) in enumerate(_layouts(routed)):
        root = tmp_path / f"case{n}"
        (root / real).parent.mkdir(parents=True, exist_ok=True)
        (root / real).write_bytes(data)
        for link, target in links.items():
            (root / link).parent.mkdir(parents=True, exist_ok=True)
            os.symlink(target, root / link)
        artifact = Artifact(root=str(root))
        found = discover(artifact)
        read = {f.display: f for f in found}
        for display in (real, routed):
            assert display in read or any(
                os.path.realpath(f.path) == os.path.realpath(root / display)
                and sniff.routing_key(f.display) == sniff.routing_key(display) for f in found
            ), (routed, n, display, sorted(read))
        # The format sniffing gives the routed name is among the readings, and every reading reads.
        want = sniff.sniff(Source.from_path(str(root / routed), routed))
        got = {sniff.sniff(Source.from_path(f.path, f.display)) for f in found}
        assert want in got, (routed, n, want, got)
        assert all(read_file(f).path == f.display for f in found)


def test_d_a_plain_directory_alias_is_still_read_once(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "model.pkl").write_bytes(SAFE)
    os.symlink("sub", tmp_path / "alias")
    found = discover(Artifact(root=str(tmp_path)))
    assert [f.display for f in found] == ["alias/model.pkl"] or [f.display for f in found] == ["sub/model.pkl"]


_FOLDER_CHECK_ALLOWED = {
    ("sniff.py", "is_template_path"),  # reached through sniff_by_loader_name, which routing_key includes
    ("sniff.py", "routing_key"),  # takes the base name
    ("sniff.py", "json_by_name"),  # round 27: model_config/metadata; routing_key keys "metadata" by its whole path
    ("zipfile_reader.py", "_torch_prefix"),  # archive member names, never a walked path
    ("loader.py", "discover"),  # the folder of the scanned root itself, not a name inside it
    # Round 34: the folder on disk where a loader opens a sibling by name (ONNX external data, keras_metadata.pb);
    # a file location, not a routing decision on the path's folders
    ("onnx_file.py", "_external_refs"),
    ("savedmodel.py", "sibling_paths"),
}


def test_d_no_reader_routes_on_folders_outside_sniff_by_loader_name() -> None:
    """A decision on a path's folders anywhere but sniff_by_loader_name would escape routing_key: any code in
    sniff.py, loader.py or the readers that splits a path into its folders must be listed above (and folded
    into sniff_by_loader_name)."""
    package = Path(sniff.__file__).parent
    files = [package / "sniff.py", package / "loader.py", *sorted((package / "readers").glob("*.py"))]
    hits: set[tuple[str, str]] = set()
    for file in files:
        tree = ast.parse(file.read_text())
        for func in ast.walk(tree):
            if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(func):
                if _splits_folders(node):
                    hits.add((file.name, func.name))
    assert hits <= _FOLDER_CHECK_ALLOWED, sorted(hits - _FOLDER_CHECK_ALLOWED)
    assert INDEX_NAME.search("a/b.index.json") and not INDEX_NAME.search("a.index/b.json")  # index: base name only


def _splits_folders(node: ast.AST) -> bool:
    """``x.split("/")``, ``x.rsplit("/")[i]`` with i other than -1, ``os.path.dirname(x)`` / ``posixpath.dirname``."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        if node.func.attr == "split" and node.args and isinstance(node.args[0], ast.Constant) and node.args[0].value == "/":
            return True
        if node.func.attr == "dirname" and isinstance(node.func.value, ast.Attribute | ast.Name):
            owner = ast.unparse(node.func.value)
            return owner in ("posixpath", "os.path") and "fs_path" not in ast.unparse(node) and "__file__" not in ast.unparse(node)
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Call):
        call = node.value
        if isinstance(call.func, ast.Attribute) and call.func.attr == "rsplit" and call.args \
                and isinstance(call.args[0], ast.Constant) and call.args[0].value == "/":
            return ast.unparse(node.slice) != "-1"
    return False
