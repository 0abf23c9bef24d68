"""Decide a file's format from its content: magic bytes and structure, never its name.

Names are used only where a *loader* uses them to decide what to execute: Hugging Face loads a chat template
from ``chat_template.jinja`` (and ``additional_chat_templates/*.jinja``) and reads ``tokenizer_config.json``,
``chat_template.json``, ``processor_config.json`` ... by name, whatever their bytes look like. Those names are
routed first (before magic numbers and printability), so such a file is always decoded and parsed; the other
readings of its bytes (pickle from offset 0, a zip or tar inside) still happen in the loader (see
docs/decisions.md). Since red team round 21 every ``*.jinja`` / ``*.j2`` / ``*.jinja2`` is a template (hosts render
a template from any path), and so is any text in which Jinja's own lexer finds a tag (:func:`template_by_content`,
round 22; JSON text goes to the JSON reader, which analyses its whole text and string values the same way).
Round 23: a signature does not end the template question: a file sniffed as any other format whose whole bytes are
UTF-8 with a tag is analysed as a template too (``loader._also_as_template``), and past every text bound the file is
streamed for ``{{``/``{%`` (:func:`utf8_with_tag_opener`), so no bound ends in "clean".
Round 32: TensorFlow protobufs have no magic either; the names TF's loaders open (``saved_model.pb``, ``*.meta``,
``*.cpb``, ``keras_metadata.pb``, and ``*.pb`` whose content is no other format) are routed by name
(:func:`is_tf_protobuf_name`), since one unknown field moved the field-shape sniff (:func:`_sniff_protobuf`).
Zip archives are sniffed as :attr:`Format.ZIP`; the zip reader tells PyTorch, NumPy ``.npz`` and ``.keras``
archives apart by their members.
"""

from __future__ import annotations

import codecs
import functools
import io
import re
import struct
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, BinaryIO

from weightwarden.artifact import protowire
from weightwarden.artifact.model import Format
from weightwarden.artifact.source import Source
from weightwarden.core.limits import DEFAULT_LIMITS, Limits

HEAD_BYTES = 64 * 1024

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
# torch.save's legacy format begins with a pickle of this magic number (protocol 2, LONG1 of 10 bytes).
TORCH_LEGACY_MAGIC = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19."
# What torch.load's legacy reader compares the *unpickled value* of program 0 with (torch.serialization.MAGIC_NUMBER):
# any spelling of it (a protocol-0 INT/LONG line, LONG1/LONG4 with or without PROTO, through the memo) is accepted,
# and torch then unpickles the following programs of the same file (red team round 38).
TORCH_LEGACY_MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
COMPRESSED_MAGICS = (
    b"\x1f\x8b",  # gzip
    b"BZh",  # bz2
    b"\xfd7zXZ\x00",  # xz
    b"\x04\x22\x4d\x18",  # lz4 frame
    b"\x5d\x00",  # lzma "alone" (joblib's lzma compressor; joblib.load checks these two bytes only)
    b"ZF",  # joblib's old zlib container
    b"\x28\xb5\x2f\xfd",  # zstd frame (fsspec/pandas compression="infer" of *.zst; red team round 21)
    *(bytes([n]) + b"\x2a\x4d\x18" for n in range(0x50, 0x60)),  # zstd skippable frame (decoders skip it)
    b"\x02\x21\x4c\x18",  # lz4 legacy frame (no decoder here: reported as unsupported, never "unknown")
    b"\xff\x06\x00\x00sNaPpY",  # snappy framing format (fsspec's "snappy" when python-snappy is installed)
)
# Extensions under which a loader decompresses a file whatever its first bytes say: fsspec and pandas
# (compression="infer": gzip, bz2, xz, lz4, zstd, zip, tar), numpy's datasource (.gz, .bz2, .xz, .lzma), joblib's
# compressor extensions (.z, .gz, .bz2, .xz, .lzma, .lz4). A file under such a name whose content we cannot
# identify is read by the compressed reader under the name's codec, so a stream we cannot decode is reported
# ("could not be verified"), never "unknown format" (red team round 21). Compared case-folded, longest first.
COMPRESSION_EXTENSIONS: dict[str, str] = {
    ".tar.gz": "gzip", ".tgz": "gzip", ".gz": "gzip", ".gzip": "gzip",
    ".tar.bz2": "bz2", ".tbz2": "bz2", ".bz2": "bz2",
    ".tar.xz": "xz", ".txz": "xz", ".xz": "xz", ".lzma": "lzma",
    ".lz4": "lz4", ".tar.zst": "zstd", ".zst": "zstd", ".zstd": "zstd",
    ".z": "zlib", ".zlib": "zlib", ".br": "brotli", ".sz": "snappy", ".snappy": "snappy",
    ".zip": "zip", ".tar": "tar",
}
ZLIB_HEADERS = {b"\x78\x01", b"\x78\x5e", b"\x78\x9c", b"\x78\xda"}
TEMPLATE_NAMES = ("chat_template.jinja",)
# Red team round 21: hosts load a chat template from any path (vLLM / SGLang ``--chat-template FILE``, llama.cpp
# ``--chat-template-file``, ``apply_chat_template(chat_template=open(p).read())``), so a file with a Jinja
# extension is a template whatever its name (any case), not only Hugging Face's ``chat_template.jinja``.
TEMPLATE_EXTENSIONS = (".jinja", ".j2", ".jinja2")
# JSON files whose chat_template transformers renders.
TEMPLATE_CONFIG_NAMES = frozenset({"tokenizer_config.json", "chat_template.json", "processor_config.json"})
# JSON files transformers reads by name (configs that may carry a chat template or remote-code references). Red
# team round 28: the JSON *_NAME constants of transformers.utils (5.x: VIDEO_PROCESSOR_NAME, AUDIO_TOKENIZER_NAME,
# ADAPTER_CONFIG_NAME, MODEL_CARD_NAME ...) are all here, but the weight indexes (walk.py reads those); a test
# compares with the installed transformers.
LOADER_JSON_NAMES = frozenset(
    {"config.json", "tokenizer_config.json", "preprocessor_config.json", "processor_config.json",
     "chat_template.json", "generation_config.json", "feature_extractor_config.json", "image_processor_config.json",
     "video_preprocessor_config.json", "audio_tokenizer_config.json", "adapter_config.json", "modelcard.json"}
)


def sniff(source: Source) -> Format:
    """The format of ``source``, from its first bytes (and, for protobuf, its top-level fields)."""
    if source.size == 0:
        return Format.EMPTY
    by_name = sniff_by_loader_name(source.display)
    if by_name is not None:
        return by_name
    with source.open() as f:
        head = f.read(HEAD_BYTES)
        fmt = _sniff_head(head, source, f)
    if fmt in (Format.UNKNOWN, Format.TEXT, Format.JINJA_TEMPLATE) and json_by_name(source.display):
        # Red team round 27: a loader that json.loads a file it finds by name (any ``*.json``, Orbax's step and
        # checkpointable metadata) parses it whatever its head looks like; text that is not JSON there is
        # malformed (the JSON reader says so, at least medium), never "text". Binary formats keep their reader
        # (h5py / np.load read them by content whatever the name).
        return Format.JSON
    if fmt in (Format.UNKNOWN, Format.TEXT) and source.display.lower().endswith(".safetensors"):
        # The safetensors loader reads any file it is given: one that is not valid is malformed, and the
        # safetensors reader says exactly how (header length, UTF-8, JSON).
        return Format.SAFETENSORS
    if fmt in (Format.UNKNOWN, Format.TEXT, Format.SENTENCEPIECE) and is_tf_protobuf_name(source.display):
        # Red team round 32: a frozen GraphDef ``*.pb`` is sniffed as sentencepiece (repeated field 1) or nothing;
        # tf.compat.v1.GraphDef.ParseFromString reads it by name. Text under such a name may be a text GraphDef.
        return Format.SAVEDMODEL
    if fmt == Format.UNKNOWN and compression_by_name(source.display) is not None:
        # fsspec/pandas decompress by extension: the compressed reader tries the name's codec and reports a
        # stream it cannot decode (red team round 21: "model.pkl.zst" was "unknown format", info).
        return Format.COMPRESSED
    return fmt


def compression_by_name(display: str) -> str | None:
    """The codec a loader infers from the (innermost) file name's extension, or None."""
    name = display.rsplit("!", 1)[-1].rsplit("/", 1)[-1].casefold()
    for ext in sorted(COMPRESSION_EXTENSIONS, key=len, reverse=True):
        if name.endswith(ext) and len(name) > len(ext):
            return COMPRESSION_EXTENSIONS[ext]
    return None


def routing_key(display: str) -> tuple[str, Format | None]:
    """What decides how the readers read a file found at ``display`` (a path relative to the scanned folder),
    beyond its bytes: two paths with the same key and the same real file are read identically.

    Every base-name decision (loader names, extensions) is covered by the base name; the decisions that look at
    the folders too (``additional_chat_templates/<name>.jinja``, red team round 21 class D) are all made by
    :func:`sniff_by_loader_name`, so its answer for the whole path is part of the key. A new routing on folders
    belongs there (tests/test_scan_round21.py checks that no reader decides on folders elsewhere).
    """
    name = display.rsplit("/", 1)[-1]
    if name.endswith(".dat") or name == "cache.db" or name == "metadata":
        # Stores read with what lies beside them (artifact/stores.py, round 23): a dbm.dumb ``X.dat`` with the
        # ``X.dir`` next to the name the loader opens, diskcache's ``cache.db`` with the value files its folder
        # holds. The same bytes under another folder are another store, so the whole path is the key.
        name = display
    return name, sniff_by_loader_name(display)


def _sniff_head(head: bytes, source: Source, f: BinaryIO) -> Format:
    if head.startswith(b"\x93NUMPY"):
        return Format.NUMPY
    if head.startswith(b"GGUF"):
        return Format.GGUF
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")):
        return Format.ZIP
    if head.startswith(b"7z\xbc\xaf\x27\x1c"):
        return Format.SEVEN_ZIP
    if _is_hdf5(head, f):
        return Format.HDF5
    if is_tar_header(head[:512]):
        return Format.TAR
    if legacy_torch_magic(head):
        return Format.PYTORCH_LEGACY
    if _is_safetensors(head, source.size):
        return Format.SAFETENSORS
    if head.startswith(COMPRESSED_MAGICS) or _is_zlib(head):
        return Format.COMPRESSED
    if looks_like_pickle(head):
        return Format.PICKLE
    if has_zip_end_record(f, source.size):
        # Data prepended to a zip (self-extractors, polyglots): Python's zipfile and Keras still open it.
        return Format.ZIP
    # Red team round 27: JSON whitespace parses as protobuf fields ("\n" is field 1, length-delimited), so 70 000
    # newlines before a Keras config were a "sentencepiece" model. json.loads skips them: such a file is text.
    proto = None if _json_behind_whitespace(head, source) else _sniff_protobuf(f, source.size)
    if proto is not None:
        return proto
    return _sniff_text(head, source)


def _json_behind_whitespace(head: bytes, source: Source) -> bool:
    """The first byte that is not JSON whitespace (streamed past the head when needed) opens a JSON value."""
    if head[:1] not in (b" ", b"\t", b"\r", b"\n"):
        return False
    rest = head.lstrip(JSON_WHITESPACE)
    if not rest and source.size > len(head):
        at = first_significant_byte(source, len(head))
        rest = b"" if at is None else _read_at(source, at, 1)
    return rest[:1] in (b"{", b"[")


# Red team round 27: files Orbax json.loads in a step folder: the step's ``_CHECKPOINT_METADATA`` (which handler reads
# each checkpointable), a checkpointable's ``_METADATA`` (tree metadata), and JsonHandler's ``data.json`` /
# ``metadata`` (orbax experimental/v1/_src/handlers/json_handler.py, ``_get_supported_filenames``).
ORBAX_JSON_NAMES = frozenset({"_CHECKPOINT_METADATA", "_METADATA"})
# JSON whitespace, exactly what json.loads skips before the first value.
JSON_WHITESPACE = b" \t\r\n"


def json_by_name(display: str) -> bool:
    """True when a loader json.loads a file of this path by its name: any ``*.json`` (any case), Orbax's step
    metadata names, and a checkpointable's ``metadata`` in a ``model_config`` folder (JsonHandler's fallback
    file). :func:`routing_key` keys ``metadata`` by its whole path, since the folder decides."""
    parts = display.rsplit("!", 1)[-1].split("/")
    name = parts[-1]
    if name.casefold().endswith(".json") or name in ORBAX_JSON_NAMES:
        return True
    return name == "metadata" and len(parts) > 1 and parts[-2] == "model_config"


def first_significant_byte(source: Source, offset: int) -> int | None:
    """The offset of the first byte at or after ``offset`` that is not JSON whitespace, streamed to the end of the
    file (no bound below the file's own size: json.loads skips any amount of it, round 27), or None."""
    with source.open() as f:
        f.seek(offset)
        while True:
            chunk = f.read(1024 * 1024)
            if not chunk:
                return None
            rest = chunk.lstrip(JSON_WHITESPACE)
            if rest:
                return offset + len(chunk) - len(rest)
            offset += len(chunk)


def _read_at(source: Source, offset: int, size: int) -> bytes:
    with source.open() as f:
        f.seek(offset)
        return f.read(size)


def sniff_by_loader_name(display: str) -> Format | None:
    """The format a loader reads a file of this name as, whatever its content (None: sniff the content).

    A chat template file is read as text and rendered; the config files are parsed as JSON. A file full of
    non-printable characters, or starting with another format's magic, is still what the loader takes it
    for: the reader decodes and parses it and reports failing to (never "unknown, not analysed").
    """
    if is_template_path(display):
        return Format.JINJA_TEMPLATE
    name = display.rsplit("!", 1)[-1].rsplit("/", 1)[-1]
    if name in TEMPLATE_CONFIG_NAMES:
        return Format.HF_TOKENIZER_CONFIG
    if name in LOADER_JSON_NAMES:
        return Format.JSON
    if name.casefold().endswith(".pbtxt"):
        # Red team round 31 (class A): TF's SavedModel loader parses ``saved_model.pbtxt`` with text_format when
        # ``saved_model.pb`` is absent, and GraphDefs written as text (``tf.io.write_graph(as_text=True)``) are
        # merged back the same way: the SavedModel reader parses the text as TF does, never "plain text".
        return Format.SAVEDMODEL
    if is_tf_protobuf_name(name) and not name.casefold().endswith(".pb") or name.casefold() in TF_PROTOBUF_NAMES:
        # Red team round 32: TF protobufs carry no magic, and sniffing them by their fields is ambiguous (one
        # unknown field made ``saved_model.pb`` "ONNX" or "sentencepiece", so it and its keras_metadata.pb were
        # never read). The names TF's loaders open are routed by name; the reader reads every message they can be.
        return Format.SAVEDMODEL
    return None


# Names TF's loaders open whatever the bytes: the SavedModel (binary, chunked) and TF-Keras's metadata beside it
# (red team round 32). ``*.meta`` (``import_meta_graph``) and ``*.cpb`` (the proto splitter's chunked files) by
# extension; another ``*.pb`` (a frozen GraphDef) is routed by name unless its content is another format
# (:func:`sniff`), and read as a TF graph as well then (``loader._also_as_tf_graph``).
TF_PROTOBUF_NAMES = frozenset({"saved_model.pb", "saved_model.cpb", "keras_metadata.pb"})
TF_PROTOBUF_EXTENSIONS = (".pb", ".pbtxt", ".meta", ".cpb")


def is_tf_protobuf_name(display: str) -> bool:
    """True when a TF loader reads a file of this (innermost) name as a protobuf: any ``*.pb``, ``*.pbtxt``,
    ``*.meta``, ``*.cpb`` (any case)."""
    name = display.rsplit("!", 1)[-1].rsplit("/", 1)[-1].casefold()
    return name.endswith(TF_PROTOBUF_EXTENSIONS) and name not in TF_PROTOBUF_EXTENSIONS


def _is_zlib(head: bytes) -> bool:
    """joblib.load takes any file starting with 0x78 for zlib; zlib accepts every header byte that passes its
    check (no preset dictionary), not only the four that common levels write."""
    return len(head) >= 2 and head[0] == 0x78 and (head[0] << 8 | head[1]) % 31 == 0 and not head[1] & 0x20


def is_tar_header(block: bytes) -> bool:
    """True when ``block`` is a tar header block as :mod:`tarfile` accepts it (``TarInfo.frombuf``).

    tarfile checks only the header checksum (signed or unsigned sum of the block, checksum field as spaces),
    never the ``ustar``/GNU magic at 257: an old V7 header with no magic is a tar, and ``torch.load`` opens any
    non-zip file with ``tarfile.open`` first (red team round 13). An all-zero block is the end marker, which
    ``tarfile.open`` refuses at offset 0.
    """
    if len(block) < tarfile.BLOCKSIZE or block.count(0) == tarfile.BLOCKSIZE:
        return False
    block = block[: tarfile.BLOCKSIZE]
    try:
        checksum = tarfile.nti(block[148:156])  # type: ignore[attr-defined]
        return checksum in tarfile.calc_chksums(block)  # type: ignore[attr-defined]
    except (tarfile.TarError, ValueError):
        return False


def has_zip_end_record(f: BinaryIO, size: int) -> bool:
    """True when a zip loader finds an end-of-central-directory record it can use.

    Python's zipfile (Keras, np.load of a ``PK`` file) takes the *last* signature in the last 64 KiB + 22
    bytes with 22 bytes after it, whatever its comment length says; torch's miniz the last one with 22 bytes
    after it in the last ~68 KiB. Either opens the archive when the central directory the record points at
    starts with a central-directory signature (or the archive is empty, or zip64). The exact form (comment
    length up to the end of the file) is also kept, as before round 13.
    """
    if size < 22:
        return False
    tail_len = min(size, 65_535 + 22 + 4096)
    f.seek(size - tail_len)
    tail = f.read(tail_len)
    base = size - tail_len
    at = tail.rfind(b"PK\x05\x06")
    if at < 0:
        return False
    if at + 22 <= len(tail):
        comment_len = int.from_bytes(tail[at + 20 : at + 22], "little")
        if at + 22 + comment_len == len(tail):
            return True
    for cand in {at, tail.rfind(b"PK\x05\x06", 0, len(tail) - 22 + 4)}:
        if cand >= 0 and cand + 22 <= len(tail) and _central_directory_found(f, base + cand, tail[cand : cand + 22], size):
            return True
    return False


def _central_directory_found(f: BinaryIO, eocd: int, record: bytes, size: int) -> bool:
    entries = int.from_bytes(record[10:12], "little")
    cd_size = int.from_bytes(record[12:16], "little")
    cd_offset = int.from_bytes(record[16:20], "little")
    if entries == 0xFFFF or cd_size == 0xFFFFFFFF or cd_offset == 0xFFFFFFFF:
        return True  # zip64: the loaders follow the zip64 locator; the zip reader checks it
    if entries == 0 and cd_size == 0:
        return True  # an empty archive opens
    # zipfile reads the directory right before the end record (any data prepended shifts it); miniz at its offset.
    for where in (eocd - cd_size, cd_offset):
        if 0 <= where <= size - 4:
            f.seek(where)
            if f.read(4) == b"PK\x01\x02":
                return True
    return False


def _is_hdf5(head: bytes, f: BinaryIO) -> bool:
    """libhdf5 (``h5py.is_hdf5``, ``H5FD_locate_signature``) looks for the superblock at 0 and at every power
    of two from 512 up to the end of the file (a user block of any such size may precede it). Round 13: the
    search stopped at 32 KiB, so a 64 KiB user block hid the file. Beyond the head, 8 bytes are read at each
    candidate: O(log size) reads."""
    if head[:8] == HDF5_MAGIC:
        return True
    size = f.seek(0, 2)
    offset = 512
    while offset + 8 <= size:
        if offset + 8 <= len(head):
            found = head[offset : offset + 8] == HDF5_MAGIC
        else:
            f.seek(offset)
            found = f.read(8) == HDF5_MAGIC
        if found:
            return True
        offset *= 2
    return False


def _is_safetensors(head: bytes, size: int) -> bool:
    if len(head) < 9:
        return False
    (n,) = struct.unpack("<Q", head[:8])
    # The header must fit in the file and be a JSON object; the reader checks the rest strictly.
    if 2 <= n <= size - 8 and head[8:9] == b"{":
        return True
    # A length past the end of the file before a JSON object is a hostile header length (a "10 GB header"),
    # which the reader reports; the non-printable length bytes keep text such as 'version={"' out.
    return n > size - 8 and head[8:10] == b'{"' and any(b < 0x20 or b > 0x7E for b in head[:8])


def looks_like_pickle(head: bytes) -> bool:
    """True when ``head`` starts like a pickle program, whatever its first opcode.

    ``pickle.load`` starts executing at byte 0 with no header check, so any first opcode counts (NEWTRUE,
    EMPTY_SET, LONG1, FRAME, a text INT, SHORT_BINUNICODE without PROTO ...). The symbolic machine walks the
    head: a program that reaches STOP, or that imports or calls something before the head runs out or the
    data turns invalid, is a pickle (what it ran up to that point is what a loader would run too). Red team
    round 38: so is a head whose program 0 reaches STOP and whose *following* programs import something
    (torch.load's legacy reader, and any loader calling ``pickle.load`` again on the same file, runs them).
    """
    if len(head) >= 2 and head[0] == 0x80 and 0 <= head[1] <= 5:
        return True
    probe = probe_pickle(head)
    if probe.meaningful:
        return True
    # A program that imports nothing cannot run code; it is still a pickle (plain data at protocol 0/1)
    # when it fills the data: STOP at the very end, or a long clean run of opcodes past the head. Text that
    # happens to parse for a few opcodes ("GIT v1.5..." is BINFLOAT, DUP, STOP) stops early with bytes after;
    # programs after it that import nothing leave it text (``I123\n.`` then prose is a number to pickle.load).
    if probe.reached_stop:
        return probe.opcodes >= 2 and probe.end == len(head) < HEAD_BYTES
    return probe.truncated and probe.opcodes >= 1000


def legacy_torch_magic(head: bytes) -> bool:
    """True when program 0 of ``head`` unpickles to torch's legacy magic number, however it is spelled."""
    return head.startswith(TORCH_LEGACY_MAGIC) or probe_pickle(head).legacy_magic


@dataclass(frozen=True, slots=True)
class PickleProbe:
    """What walking bytes as a pickle from offset 0 showed: program 0, and the programs after its STOP."""

    reached_stop: bool  # program 0 reached STOP
    opcodes: int  # program 0's opcodes
    meaningful: bool  # some program of the chain imports or calls something a real unpickler could resolve
    truncated: bool = False  # program 0 ran out mid-program: what follows the head decides
    end: int | None = None  # offset just after program 0's STOP
    legacy_magic: bool = False  # program 0's value is torch's legacy magic number (torch.load reads on)
    later_truncated: bool = False  # a program after program 0 ran out with the head: the rest of the file decides
    programs: int = 1  # programs walked in the head (program 0, the following ones, the chains from STOP)
    limit: str | None = None  # a walk limit some program of the head stopped at (red team round 39)


_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


@functools.lru_cache(maxsize=8)
def probe_pickle(head: bytes) -> PickleProbe:
    """Walk ``head`` as a pickle program (symbolically, bounded by its length), and the programs after it.

    Red team round 38: program 0 alone does not say whether a file runs code. torch.load's legacy reader
    checks only the *value* of program 0 (the magic number, in any spelling) and then unpickles the next
    programs of the same file, the first of them before any check; a loader calling ``pickle.load`` in a loop
    does the same. So when program 0 reaches STOP with bytes after it, the following programs are walked as
    the pickle reader walks them (consecutive programs until one is no pickle, NUL padding, the chains from a
    STOP inside a frame), within the head; the probe is meaningful when any of them imports something.
    Cached: the sniffer asks twice (legacy magic, then pickle) about the same head.
    """
    from weightwarden.picklevm.machine import ChainState, analyze_streams, analyze_value, other_chain

    stream = io.BytesIO(head)
    analysis, value = analyze_value(stream)
    truncated = _ran_out(analysis)
    legacy = analysis.end is not None and type(value) is int and value == TORCH_LEGACY_MAGIC_NUMBER
    meaningful = has_real_sites(analysis)
    limit = analysis.limit_hit
    later_truncated = False
    programs = 1
    if analysis.end is not None and analysis.end < len(head):
        chains = ChainState()
        chains.mark(0)
        stream.seek(analysis.resume or analysis.end)
        rest = analyze_streams(stream, chains=chains)
        following = [*rest.programs, *other_chain(stream, analysis, DEFAULT_LIMITS, 0, chains=chains)]
        programs += len(following)
        meaningful = meaningful or any(has_real_sites(a) for a in following)
        limit = limit or next((a.limit_hit for a in following if a.limit_hit is not None), None)
        # A later program cut by the end of the head is taken for trailing data by the walk (it names nothing
        # yet): when the head is full, whatever follows program 0 is unread, so the rest of the file decides.
        later_truncated = any(_ran_out(a) for a in rest.programs[-1:]) or (
            rest.trailing_offset is not None and len(head) >= HEAD_BYTES)
    # A walk stopped at a limit is not "imports nothing" (red team round 39, class 2), except a literal declared
    # longer than max_pickle_bytes: a head holds no such literal, so the file's size decides (the loader's
    # _also_as_pickle); random bytes read as a length hit that one all the time.
    meaningful = meaningful or limit_counts(limit, len(head))
    return PickleProbe(analysis.end is not None, analysis.opcodes, meaningful, truncated, analysis.end, legacy,
                       later_truncated, programs, limit)


def limit_counts(limit: str | None, size: int, limits: Limits = DEFAULT_LIMITS) -> bool:
    """Whether a pickle walk that stopped at ``limit``, over a file of ``size`` bytes, leaves something a loader could
    run unread (fail closed). A literal or program longer than ``max_pickle_bytes`` cannot be in a file no longer than
    that: the loader fails reading it (truncated) before anything after it runs."""
    if limit is None:
        return False
    return not (limit == "max_pickle_bytes" and size <= limits.max_pickle_bytes)


def _ran_out(analysis) -> bool:  # type: ignore[no-untyped-def]
    return analysis.end is None and bool(analysis.error) and analysis.error.startswith("truncated")


def has_real_sites(analysis) -> bool:  # type: ignore[no-untyped-def]
    """True when a walked program imports a name an unpickler could resolve, or when unpicklers read it
    differently. Without a name, every object on the stack comes from a literal, so nothing can be called (a
    REDUCE over literals, a STACK_GLOBAL over numbers or an EXT code with the empty default registry fail in the
    unpickler before running anything); text or binary data that merely parses as opcodes names nothing
    importable. A frame divergence (red team round 40: the C unpickler reading a large frame from a file drops the
    frame's rest when an argument runs past its end, or a FRAME starts inside a frame, and reads on after it —
    another program than the contiguous one walked here) means the names this walk saw are not all a loader may
    import: the file goes to the pickle reader, which reports the divergence (WW-PKL-012, high)."""
    return _skips_frame_bytes(analysis) or any(_IDENT.fullmatch(site.target) for site in analysis.all_sites())


def _skips_frame_bytes(analysis) -> bool:  # type: ignore[no-untyped-def]
    """A frame divergence only: other divergences (a memo key or number spelled in text, "pip" in an INSTALLER file
    read as PUT) are everyday in text that merely parses as opcodes, and the readers judge them where a pickle is."""
    from weightwarden.picklevm.machine import FRAME_IN_FRAME, FRAME_STRADDLE

    return any(FRAME_STRADDLE in note or FRAME_IN_FRAME in note for note in analysis.divergences)


def _sniff_protobuf(f: BinaryIO, size: int) -> Format | None:
    """ONNX ModelProto or TF SavedModel, told apart by their top-level field numbers."""
    try:
        fields = protowire.top_level_fields(f, size, max_fields=4096)
    except protowire.WireError:
        return None
    numbers = {number for number, _wire, _offset, _length in fields}
    if not numbers:
        return None
    if numbers <= {1, 2} and any(n == 2 and w == protowire.LEN for n, w, _o, _l in fields):
        return Format.SAVEDMODEL
    onnx_fields = {1, 2, 3, 4, 5, 6, 7, 8, 14, 20, 25}
    if numbers <= onnx_fields and 7 in numbers:
        return Format.ONNX
    # sentencepiece's ModelProto (tokenizer.model): repeated pieces (1), trainer/normalizer specs (2, 3, 5),
    # self-test data (4), all length-delimited.
    if (
        numbers <= {1, 2, 3, 4, 5}
        and all(w == protowire.LEN for _n, w, _o, _l in fields)
        and sum(1 for n, _w, _o, _l in fields if n == 1) >= 2
    ):
        return Format.SENTENCEPIECE
    return None


def _sniff_text(head: bytes, source: Source) -> Format:
    if (wide_codec(head) is not None or b"\0" in head) and _non_utf8_with_tag(head, source):
        return Format.JINJA_TEMPLATE  # round 26: UTF-16/32 text (BOM-less UTF-32 ASCII is also valid UTF-8)
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # a multi-byte character cut by the head is fine
            # Round 26: not UTF-8 is not "not text": a host reading with the locale codec (cp1252 on Windows,
            # open(p) without an encoding) or errors="replace" renders the tags of such a file.
            return Format.JINJA_TEMPLATE if _non_utf8_with_tag(head, source) else Format.UNKNOWN
        text = head[: exc.start].decode("utf-8")
    if not _mostly_printable(text):
        return Format.UNKNOWN
    if is_template_path(source.display):
        return Format.JINJA_TEMPLATE
    name = source.display.rsplit("!", 1)[-1].rsplit("/", 1)[-1]
    stripped = text.lstrip("\ufeff \t\r\n")
    if stripped.startswith(JINJA_LEADS):
        # Before the JSON test: "{%", "{{" and "{#" are never JSON (round 21: such a file was sniffed as JSON,
        # failed to parse and passed with 0 findings).
        return Format.JINJA_TEMPLATE
    if not stripped and source.size > len(head):
        # Red team round 27: a head of whitespace only (70 000 spaces before a Keras config) says nothing; json.loads
        # skips any amount of it, so the first real character decides, wherever it is.
        at = first_significant_byte(source, len(head))
        if at is not None:
            lead = _read_at(source, at, 2).decode("utf-8", errors="replace")
            if lead.startswith(JINJA_LEADS):
                return Format.JINJA_TEMPLATE
            if lead[:1] in ("{", "["):
                return Format.JSON
    if _json_array_start(stripped):
        # Round 27: a top-level JSON array is JSON too (model_from_json / deserialize_keras_object build each item);
        # the JSON reader walks arrays, and one that does not parse is text again (reader: not JSON).
        return Format.JSON
    if stripped.startswith("{"):
        # The JSON reader also analyses the whole text and every string value that holds Jinja markup (round 22).
        if '"chat_template"' in text or (source.size > len(head) and name == "tokenizer_config.json"):
            return Format.HF_TOKENIZER_CONFIG
        return Format.JSON
    page = is_page(source.display)
    if has_jinja_markup(text) or (page and _page_markup(text, page)):
        # Round 22: any text with a tag Jinja's lexer takes ("[INST] {% for", "<s>{{ ... }}", a JSON array of
        # templates) is rendered as a template by a host given its path; the reader reads a JSON array as JSON
        # too.
        return Format.JINJA_TEMPLATE
    if source.size > len(head) and _template_past_head(source):
        return Format.JINJA_TEMPLATE
    if _page_config(text, page) or (source.size > len(head) and _config_key_past_head(source)):
        return Format.JINJA_TEMPLATE  # tpl34: the reader reads such a text for its JSON configs (BY_CONTENT_CONFIG)
    return Format.TEXT


# What may follow "[" (after JSON whitespace) in a JSON array: a value or the end of the array. "[INST]", "[section]"
# or "[link](...)" are not JSON.
_JSON_VALUE_LEADS = tuple('{["-0123456789tfn]')


def _json_array_start(stripped: str) -> bool:
    """``stripped`` (text after leading whitespace) opens a JSON array: "[" then a value or "]" (or only whitespace
    to the end of the head)."""
    if not stripped.startswith("["):
        return False
    rest = stripped[1:].lstrip(" \t\r\n")
    return not rest or rest.startswith(_JSON_VALUE_LEADS)


# Red team round 26: text that is not UTF-8. Windows hosts read a file opened without an encoding as cp1252 (Python's
# locale codec up to 3.14); a byte cp1252 leaves undefined (0x81, 0x8D, 0x8F, 0x90, 0x9D) is taken as latin-1, so
# every byte maps and a tag anywhere is seen. UTF-16/32 text with a BOM is what json.loads(bytes) and BOM-sniffing
# readers decode. The text is judged with the same test as UTF-8 text (Jinja's lexer finds a tag).
LEGACY_CODEC = "cp1252"
_LATIN1_FALLBACK = "weightwarden.cp1252-latin1"
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


def _latin1_fallback(exc: UnicodeError) -> tuple[str, int]:
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    return exc.object[exc.start : exc.end].decode("latin-1"), exc.end


codecs.register_error(_LATIN1_FALLBACK, _latin1_fallback)


def decode_non_utf8(data: bytes) -> tuple[str, str]:
    """The text a reader that does not insist on UTF-8 gets from ``data`` (not UTF-8), and the codec's name: UTF-16
    or UTF-32 (:func:`wide_codec`; a cut last character replaced), else cp1252 with latin-1 for its undefined
    bytes."""
    codec = wide_codec(data)
    if codec is not None:
        return data.decode(codec, errors="replace"), codec
    return data.decode(LEGACY_CODEC, errors=_LATIN1_FALLBACK), LEGACY_CODEC


# Red team round 27: one view is not what every host gets. The locale codec of Chinese/Japanese/Korean Windows
# (gbk, cp932, big5, cp949) takes "\x81{" as one character (a stray tag the cp1252 view sees vanishes), and a
# reader with errors="ignore" drops the bytes between "{" and "{" (joining a tag). Every view is analysed.
_VIEW_CODECS = ("cp932", "gbk", "big5", "cp949")


def decode_views(data: bytes) -> list[tuple[str, str]]:
    """Every text a host that does not insist on UTF-8 may get from ``data`` (not UTF-8), without duplicates, the
    :func:`decode_non_utf8` view first: UTF-8 with errors="ignore", the CJK locale codecs (undecodable bytes
    replaced: a strict reader fails, a "replace" one cannot join braces over U+FFFD) and, when the bytes hold a NUL,
    BOM-less UTF-16-LE/BE. Each is at most as long as ``data`` (callers bound it)."""
    views = [decode_non_utf8(data)]
    views.append((data.decode("utf-8", errors="ignore"), "utf-8 (errors=ignore)"))
    views += [(data.decode(codec, errors="replace"), codec) for codec in _VIEW_CODECS]
    if b"\0" in data and wide_codec(data) is None:
        views += [(data.decode(codec, errors="replace"), codec) for codec in ("utf-16-le", "utf-16-be")]
    seen: set[str] = set()
    out = []
    for text, codec in views:
        if text not in seen:
            seen.add(text)
            out.append((text, codec))
    return out


def wide_codec(data: bytes) -> str | None:
    """UTF-16 or UTF-32 by a BOM, or without one by the NUL pattern of the first 4 bytes (json.detect_encoding, what
    json.loads(bytes) follows; BOM-less UTF-32 ASCII is valid UTF-8 full of NULs), else None."""
    import json

    for bom, codec in _BOMS:
        if data.startswith(bom):
            return codec
    codec = json.detect_encoding(data[:4])
    return None if codec.startswith("utf-8") else codec


def _non_utf8_with_tag(head: bytes, source: Source) -> bool:
    """A head that is not UTF-8 in one of whose :func:`decode_views` Jinja's lexer finds a tag (in the head, or in
    the whole file up to TEMPLATE_SEARCH_BYTES, the bound UTF-8 text has).

    Round 28: no printability test. A control character is plain text to Jinja (4000 "\\x01", ANSI colour codes
    or NULs before a template were "not analysed", info only, while cp1252 renders them); the byte pre-test
    :func:`may_hold_tag_bytes` keeps ordinary binaries cheap instead."""
    if may_hold_tag_bytes(head) and any(_view_has_tag(text) for text, _codec in decode_views(head)):
        return True
    if len(head) < source.size <= TEMPLATE_SEARCH_BYTES:
        with source.open() as f:
            data = f.read(TEMPLATE_SEARCH_BYTES)
        if _mostly_printable(decode_non_utf8(head)[0]):
            return may_hold_tag_bytes(data) and any(_view_has_tag(text) for text, _codec in decode_views(data))
        # A head of binary bytes: decided on windows first (views_may_hold_tag), never decoded whole by chance.
        return views_may_hold_tag(data) and any(has_complete_tag(text) for text, _codec in decode_views(data))
    return False


def _view_has_tag(text: str) -> bool:
    """Round 27's test for a mostly printable view (Jinja's lexer yields a tag opener: fail closed, WW-TPL-009 even
    when nothing parses); a view that is not mostly printable needs a whole tag (:func:`has_complete_tag`)."""
    return has_jinja_markup(text) if _mostly_printable(text) else has_complete_tag(text)


def has_complete_tag(text: str) -> bool:
    """:func:`has_jinja_markup`, and a whole tag that Jinja's lexer takes and that parses on its own is in the text
    (the recovery's test). The test for decoded views of bytes that need not be text (round 28: the printability
    gate is gone): Jinja's lexer yields a tag's opener before it reads the body, so a "{{" in random bytes, decoded
    as cp1252, would count as markup."""
    return has_jinja_markup(text) and _recoverable_tag(text)


# "{" then "{" or "%" with only NULs or bytes >= 0x80 between: every decode view (cp1252, UTF-8 errors=ignore, the
# CJK codecs, UTF-16/32) maps "{" and "%" from those ASCII bytes only, and what it can drop or join between them
# is NULs (UTF-16/32) or non-ASCII bytes. Bytes without this pattern show no tag opener in any view.
_TAG_BYTES_RE = re.compile(rb"\{[\x00\x80-\xff]*[{%]")


def may_hold_tag_bytes(data: bytes) -> bool:
    """A cheap test that some :func:`decode_views` view of ``data`` may show a ``{{``/``{%`` opener (never False
    when one does). Linear: each match attempt stops at the run's first other byte."""
    return b"{" in data and _TAG_BYTES_RE.search(data) is not None


# Bytes decoded around each byte-level opener by :func:`views_may_hold_tag`, and the openers looked at that way
# (past it, or when a window cannot be placed exactly, the views are decoded whole).
_WINDOW_BYTES = 4096
_MAX_WINDOWS = 4096
_SYNC_BYTES = 1024
_MAX_TAG_BYTES = 64 * 1024  # recovery.MAX_TAG_CHARS (a UTF-8 view may need up to 4 bytes a character: x4 above)


def views_may_hold_tag(data: bytes) -> bool:
    """Whether some :func:`decode_views` view of ``data`` may hold a whole tag (:func:`has_complete_tag`), decided
    on windows around each byte-level opener instead of decoding megabytes of weights six times (round 28: a
    16 MiB array of random floats holds "{{" bytes by chance and cost seconds). Never False when a view holds one:
    each window starts where every codec is in step with the whole decoding (after a byte below 0x40, which no
    CJK codec takes as a trail byte; at an even offset for UTF-16), and a tag the window's end cuts counts."""
    from weightwarden.artifact.recovery import CUT_TAG, WHOLE_TAG, may_hold_tag

    if not may_hold_tag_bytes(data):
        return False
    if wide_codec(data) is not None:
        return True  # a BOM or UTF-32 NUL pattern: the whole-file decoding decides
    for count, m in enumerate(_TAG_BYTES_RE.finditer(data)):
        if count >= _MAX_WINDOWS:
            return True
        s = m.start()
        lead = data[max(0, s - _SYNC_BYTES) : s]
        sync = max(lead.rfind(bytes([b])) for b in range(0x40))
        if sync < 0 and s > _SYNC_BYTES:
            return True  # no sync point near: undecided
        start = s - len(lead) + sync + 1 if sync >= 0 else 0
        size = _WINDOW_BYTES
        while True:
            # A tag the window's end may cut (a string literal left open, in random bytes often) asks a larger
            # window, up to the recovery's longest tag; still cut there: undecided.
            window = data[start : s + size]
            texts = [window.decode(LEGACY_CODEC, errors=_LATIN1_FALLBACK), window.decode("utf-8", errors="ignore")]
            texts += [window.decode(codec, errors="replace") for codec in _VIEW_CODECS]
            if b"\0" in data:
                even = max(0, s - 256) & ~1
                wide = data[even : s + 2 * size]
                texts += [wide.decode(codec, errors="replace") for codec in ("utf-16-le", "utf-16-be")]
            answers = [may_hold_tag(text) for text in texts]
            if WHOLE_TAG in answers:
                return True
            if CUT_TAG not in answers or s + size >= len(data):
                break
            if size >= 4 * _MAX_TAG_BYTES:
                return True
            size *= 4
    return False


# How much of a text file is decoded and lexed for Jinja tags past the head (the reader's text limit). Past it the
# file is still streamed for a raw ``{{``/``{%`` (red team round 23: a tag after 16 MiB of prose was never looked
# for, and the file passed as plain text); the reader then reports it as too large to analyse (WW-GEN-001).
TEMPLATE_SEARCH_BYTES = 16 * 1024 * 1024


def _template_past_head(source: Source) -> bool:
    """Jinja markup anywhere in the text, for files longer than the head: a template behind 64 KiB of filler
    text is still rendered whole. ``{{``/``{%`` are looked for first (memchr-fast), so a long vocabulary or
    merges file costs one read. Up to TEMPLATE_SEARCH_BYTES the lexer decides; past it any raw tag opener in a
    file that is UTF-8 throughout counts (no bound ends in "clean")."""
    with source.open() as f:
        data = f.read(TEMPLATE_SEARCH_BYTES)
    if (b"{%" in data or b"{{" in data) and has_jinja_markup(data.decode("utf-8", errors="replace")):
        return True
    if source.size <= TEMPLATE_SEARCH_BYTES:
        return False
    return utf8_with_tag_opener(source)


def _config_key_past_head(source: Source) -> bool:
    """tpl34: the key of a JSON config anywhere in the first TEMPLATE_SEARCH_BYTES (the reader's text limit: a
    longer text is not read whole for configs)."""
    with source.open() as f:
        data = f.read(TEMPLATE_SEARCH_BYTES)
    if b'"chat_template"' not in data and b"\\u" not in data and b"&" not in data and b"<" not in data:
        return False
    return _page_config(data.decode("utf-8", errors="replace"), is_page(source.display))


# Chunks a file is streamed in when looking for a tag opener: the first is small, so that a binary file (weights
# are not UTF-8) is given up after a few KiB; the rest bound the memory used.
_STREAM_FIRST = 64 * 1024
_STREAM_CHUNK = 4 * 1024 * 1024
TAG_OPENERS = (b"{{", b"{%")


def utf8_with_tag_opener(source: Source) -> bool:
    """True when the whole file decodes as UTF-8 (what ``open(p).read()`` needs before any host renders it as a
    template) and holds ``{{`` or ``{%`` somewhere. Streamed in bounded memory (the way the JSON reader streams
    for code keys); stops at the first byte that is not UTF-8."""
    import codecs

    decoder = codecs.getincrementaldecoder("utf-8")()
    found = False
    tail = b""
    with source.open() as f:
        size = _STREAM_FIRST
        while True:
            chunk = f.read(size)
            size = _STREAM_CHUNK
            try:
                decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError:
                return False
            if not chunk:
                return found
            if not found:
                window = tail + chunk
                found = any(t in window for t in TAG_OPENERS)
                tail = window[-1:]


def is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def polyglot_template_views(source: Source, limit: int) -> list[tuple[str, str]]:
    """Every decoded text of a file of at most ``limit`` bytes in which Jinja's lexer finds a tag, with its codec:
    the UTF-8 text when the file is UTF-8 throughout, and every :func:`decode_views` view (cp1252, UTF-8
    errors="ignore", the CJK codecs, UTF-16/32) whatever the bytes. Red team round 23 asked UTF-8 only; round 28
    found a protocol-4 pickle, an .npy, a GGUF or a safetensors file holding a template that a host reading with
    the locale codec renders (their magic or one "é" is not UTF-8). Files whose bytes cannot show a tag opener in
    any view (:func:`may_hold_tag_bytes`) cost one read."""
    if source.size > limit:
        return []
    with source.open() as f:
        data = f.read(limit + 1)
    if not may_hold_tag_bytes(data):
        return []
    views: list[tuple[str, str]] = []
    if is_utf8(data):
        views.append((data.decode("utf-8"), "utf-8"))
    if not views_may_hold_tag(data):
        return [(text, codec) for text, codec in views if has_jinja_markup(text)]
    seen: set[str] = set()
    out = []
    for text, codec in views + decode_views(data):
        if text not in seen:
            seen.add(text)
            # The UTF-8 text as in round 23; a decoded view of bytes that need not be text needs a whole tag.
            if has_jinja_markup(text) if codec == "utf-8" else has_complete_tag(text):
                out.append((text, codec))
    return out


def _mostly_printable(text: str) -> bool:
    """At least 95% printable characters (the common all-printable case is checked in C first)."""
    # str.replace is memchr-fast where translate walks a mapping per character (64 KiB heads, every file).
    if text.replace("\r", "").replace("\n", "").replace("\t", "").isprintable():
        return True
    if text.isascii():
        # bytes.translate deletes the printable ones in C; what is left are the control characters (a 64 KiB
        # head of NULs from a decompressed stream took ~15 ms character by character).
        printable = len(text) - len(text.encode("ascii").translate(None, _ASCII_PRINTABLE))
    else:
        printable = sum(ch.isprintable() or ch in "\r\n\t" for ch in text)
    return printable / len(text) >= 0.95


# The ASCII characters str.isprintable() accepts (0x20-0x7E), plus the whitespace controls text files hold.
_ASCII_PRINTABLE = bytes(range(0x20, 0x7F)) + b"\r\n\t"


def is_template_path(display: str) -> bool:
    """True for a file a host reads as a Jinja template by its name: any ``*.jinja`` / ``*.j2`` / ``*.jinja2``
    (any case; Hugging Face's ``chat_template.jinja`` and ``additional_chat_templates/<name>.jinja`` among them)
    of the innermost archive member, when in an archive."""
    name = display.rsplit("!", 1)[-1].rsplit("/", 1)[-1]
    return name in TEMPLATE_NAMES or name.lower().endswith(TEMPLATE_EXTENSIONS)


# Jinja's markup openers: text starting with one of them is Jinja, never JSON (neither "{%" nor "{{" nor "{#"
# is valid JSON).
JINJA_LEADS = ("{%", "{{", "{#")
# Why a file or a string was analysed as a template although no name says it is one (in the findings' evidence).
BY_CONTENT_LEAD = "picked up by content: the text starts with Jinja markup"
BY_CONTENT_MARKUP = "picked up by content: Jinja's lexer finds a {{ }} or {% %} tag in the text"
BY_CONTENT_JSON = "picked up by content: a JSON string value holds a {{ }} or {% %} tag"
# Red team round 23: a file sniffed as another format by its signature whose whole bytes are also UTF-8 text with a
# tag (``open(p).read()`` + a render runs it, whatever the signature says).
BY_CONTENT_POLYGLOT = ("picked up by content: the whole file is UTF-8 text in which Jinja's lexer finds a {{ }} or "
                       "{% %} tag, although its bytes were sniffed as another format (polyglot)")
# The reasons a text that Jinja cannot parse is dropped for: markup somewhere in it (a README quoting a snippet, a
# vocabulary holding "{%") says less than a leading tag or a template name. Jinja parses the whole source before
# rendering any of it, so a text that does not parse runs nothing.
WEAK_REASONS = frozenset({BY_CONTENT_MARKUP, BY_CONTENT_JSON, BY_CONTENT_POLYGLOT})
# Helper tpl34 (case 4 of the README threat model, docs/decisions.md): a text with no Jinja tag that shows a JSON
# config holding "chat_template" (its template JSON-escaped: "\u007b\u007b ...") is a config a reader pastes into
# tokenizer_config.json. It is read for its JSON configs only (the template rule's json_units).
BY_CONTENT_CONFIG = "picked up by content: the text shows a JSON config with a chat_template key"


def _spelled(word: str) -> str:
    """A regex for ``word`` as a JSON string may spell it: each character itself or a ``\\u00XX`` escape."""
    out = []
    for c in word:
        hexes = "".join(f"[{h.lower()}{h.upper()}]" if h.isalpha() else h for h in f"{ord(c):04x}")
        out.append(f"(?:{re.escape(c)}|\\\\u{hexes})")
    return "".join(out)


# The object key as JSON writes it: quoted, then JSON whitespace and a colon (prose naming chat_template is not one).
_CONFIG_KEY_RE = re.compile('"' + _spelled("chat_template") + '"[ \\t\\r\\n]*:')


def shows_config_key(text: str) -> bool:
    """Whether ``text`` holds the object key ``chat_template`` as a JSON text may spell it (escapes included): the
    cheap test before any JSON unit of a page is parsed (substring tests first: a text without either has no such
    key)."""
    if '"chat_template"' not in text and "\\u" not in text:
        return False
    return _CONFIG_KEY_RE.search(text) is not None


def template_by_content(text: str, page: bool | str = False) -> str | None:
    """Why ``text`` is analysed as a Jinja chat template by its content, else None.

    Round 21: a host renders a template from any file it is given, so text is a template whatever its name.
    Round 22: that is decided by Jinja's own lexer (:func:`has_jinja_markup`), not by a first character or a
    ``messages`` regex, which missed ``[INST] {% for``, expression-only templates and templates that never read
    ``messages``. Text starting with Jinja markup is the strong reason; markup elsewhere the weak one (a text
    picked up by it that Jinja cannot parse is dropped by the template rule). JSON files are the JSON reader's:
    it analyses their whole text and each string value the same way.
    """
    stripped = text.lstrip("\ufeff \t\r\n")
    if stripped.startswith(JINJA_LEADS):
        return BY_CONTENT_LEAD
    if has_jinja_markup(text) or (page and _page_markup(text, page)):
        return BY_CONTENT_MARKUP
    return None


def _page_markup(text: str, page: bool | str) -> bool:
    """Round 27 (character references), round 29 (backslash escapes), helper tpl35 (round 34: an opener split by
    an empty inline element or comment): a tag a rendered page shows (:mod:`weightwarden.artifact.page_view`; helper
    tpl36: any host's reading of the page's kind) is a tag a reader copies (weak reason: the template rule reads
    the page's units)."""
    from weightwarden.artifact.page_view import shows_markup

    return shows_markup(text, page)


def _page_config(text: str, page: bool | str) -> bool:
    """tpl34 / tpl35: the key of a JSON config, in the raw text or on its rendered page (round 34 class B:
    ``&quot;`` in a ``<pre>``, a GFM cell's ``\\|``)."""
    from weightwarden.artifact.page_view import shows_config

    return shows_config(text, page)


def is_page(name: str) -> str:
    """:func:`weightwarden.artifact.page_view.is_page` (a Markdown/HTML name: shown as a rendered page; its kind)."""
    from weightwarden.artifact.page_view import is_page as page_name

    return page_name(name)


def has_jinja_markup(text: str) -> bool:
    """True when Jinja's lexer (default delimiters, as every chat-template host uses) yields a ``{{`` or ``{%``
    tag for ``text``: what a host given the text renders runs at least one expression or statement.

    Comments, ``{% raw %}`` blocks and text with no tag yield none. The lexer is a generator and stops at the
    first tag; a text that makes it raise before one (an unclosed comment) has none. Callers bound the text
    (a file's head, max_text_bytes or TEMPLATE_SEARCH_BYTES); the scan before the first tag is linear.
    """
    if "{{" not in text and "{%" not in text:
        return False
    # Jinja's lexer splits its whole input into lines before the first token; lexed left to right, a tag found in
    # a prefix is the full text's first tag too, so a prefix reaching a little past the first opener is tried
    # first (a 20 MB merges.txt with a "{{" token on line 30 is not split whole). No tag in the prefix decides
    # nothing (an opener cut at its end, a comment closed after it): the whole text is lexed then.
    openers = [i for i in (text.find("{{"), text.find("{%"), text.find("{#")) if i >= 0]
    end = min(openers) + _LEX_PREFIX
    if end < len(text) and _first_tag(text[:end]):
        return True
    return _first_tag(text)


# Characters past the first opener lexed before the whole text is (see has_jinja_markup).
_LEX_PREFIX = 64 * 1024


def _first_tag(text: str) -> bool:
    try:
        for _line, token, _value in _jinja_lexer().tokeniter(text, None):
            if token in ("variable_begin", "block_begin"):
                return True
    except Exception:  # noqa: BLE001 - a lexer failure before a tag: Jinja renders nothing of the whole text...
        # ...but round 28: a stray "{#" or "{% raw %}" before a template (a README's inline code span a reader
        # copies) made the whole text "no markup" and it was never analysed. A tag the tolerant recovery finds
        # (artifact/recovery.py) counts: the template rule then analyses what it recovers.
        return _recoverable_tag(text)
    # No tag, and no error: a comment or raw block may still enclose tags another extraction shows.
    return ("{#" in text or "raw" in text) and _recoverable_tag(text)


def _recoverable_tag(text: str) -> bool:
    from weightwarden.artifact.recovery import recoverable_tag

    return recoverable_tag(text)


@functools.cache
def _jinja_lexer() -> Any:
    from jinja2 import Environment

    return Environment().lexer



# Bytes a role-exempt member (a torch storage, a metadata record) is sniffed over: the magic numbers, a tar
# header block, an .npy header and a pickle's first imports all sit in the first few KiB (round 17).
ROLE_HEAD_BYTES = 4096
_GGUF_VERSIONS = (1, 2, 3)


def embedded_format(head: bytes, size: int) -> str | None:
    """What another loader would take bytes starting with ``head`` for, by their content (None: raw data).

    For members one loader reads as raw bytes because of their role (a torch zip's ``data/<key>`` storages
    and metadata records) while another opens them by content: ``np.load`` of the same zip (an .npz to numpy)
    unpickles any member that starts with ``\\x93NUMPY`` and an object dtype, whatever its name (red team
    round 17). Every format the scanner reads counts, but only on structure a tensor's bytes do not carry by
    chance: multi-byte magics, a tar header checksum, a safetensors header that parses, a pickle that
    imports a resolvable name, and the two-byte compression magics only when the head really decompresses.
    """
    if head.startswith(b"\x93NUMPY"):
        return "npy"
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")):
        return "zip"
    if head.startswith(b"7z\xbc\xaf\x27\x1c"):
        return "7z"
    if head[:4] == b"GGUF" and len(head) >= 8 and int.from_bytes(head[4:8], "little") in _GGUF_VERSIONS:
        return "gguf"
    if head[:8] == HDF5_MAGIC:
        return "hdf5"
    if is_tar_header(head[:512]):
        return "tar"
    if _compressed_head(head):
        return "compressed"
    if _safetensors_head(head, size):
        return "safetensors"
    probe = probe_pickle(head)
    if probe.meaningful or probe.legacy_magic:  # round 38: any program of the chain, the magic by its value
        return "pickle"
    return None


def _compressed_head(head: bytes) -> bool:
    import lzma
    import zlib

    if head.startswith((b"\x1f\x8b\x08", b"\xfd7zXZ\x00", b"\x04\x22\x4d\x18", b"\x28\xb5\x2f\xfd")):
        return True
    if len(head) >= 4 and 0x50 <= head[0] <= 0x5F and head[1:4] == b"\x2a\x4d\x18":
        return True  # a zstd skippable frame: zstd decoders skip it and decode the frames after it
    if head.startswith(b"BZh") and len(head) >= 10 and head[3:4].isdigit() and head[4:10] in (b"1AY&SY", b"\x17rE8P\x90"):
        return True
    # Two-byte magics (zlib, lzma "alone", joblib's ZF): a tensor can start with them by chance, so they
    # count only when the head decompresses (random bytes after a valid header fail within a few bytes).
    trials: list[tuple[bytes, Callable[[], object]]] = []
    if _is_zlib(head):
        trials.append((head, zlib.decompressobj))
    if head.startswith(b"\x5d\x00\x00"):
        trials.append((head, lambda: lzma.LZMADecompressor(lzma.FORMAT_ALONE)))
    if head.startswith(b"ZF"):
        at = 2
        while at < min(len(head), 40) and head[at : at + 1] in b"0123456789abcdefx ":
            at += 1
        trials.append((head[at:], zlib.decompressobj))
    for data, make in trials:
        try:
            out = make().decompress(data[:ROLE_HEAD_BYTES])  # type: ignore[attr-defined]
        except (zlib.error, lzma.LZMAError, EOFError, ValueError):
            continue
        if out:
            return True
    return False


def _safetensors_head(head: bytes, size: int) -> bool:
    import json

    if not _is_safetensors(head, size):
        return False
    (n,) = struct.unpack("<Q", head[:8])
    if 8 + n > len(head):
        # a header longer than the head: a hostile length, or a real header; an int64 tensor whose second
        # value's low byte is '{' is not one, so ask for a quote and a printable key to follow
        return head[8:10] == b'{"' and head[10:12].isascii() and head[10:12].isalnum()
    from weightwarden.artifact.json_depth import too_deep

    if head[8:9] == b"{" and too_deep(head[8 : 8 + n]) is not None:
        return True  # round 29: too deep to parse here; the reader reports it as too deep (high), never "unknown"
    try:
        return isinstance(json.loads(head[8 : 8 + n]), dict)
    except RecursionError:
        return head[8:9] == b"{"  # the parser's limit, not the input's: as above
    except (ValueError, UnicodeDecodeError):
        return False
