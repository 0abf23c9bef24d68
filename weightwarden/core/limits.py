"""Bounds that keep hostile input from exhausting memory or time.

Every reader and the pickle machine consult one :class:`Limits`. Hitting a bound is never a silent pass:
the reader records an anomaly (``limits.*``) or sets the entry's ``error``, naming the bound.
"""

from __future__ import annotations

from dataclasses import dataclass

MiB = 1024 * 1024
GiB = 1024 * MiB


@dataclass(frozen=True, slots=True)
class Limits:
    max_header_bytes: int = 100 * MiB  # safetensors JSON header, GGUF metadata, ONNX/TF protobuf bodies
    max_pickle_bytes: int = 4 * GiB  # a pickle program is walked as a stream; this bounds what is walked
    max_pickle_opcodes: int = 50_000_000
    max_pickle_memo: int = 1_000_000
    max_pickle_stack: int = 1_000_000  # also bounds nesting depth: a 10^6-deep pickle stops here
    max_nested_pickle_depth: int = 4  # pickle.loads(bytes) inside a pickle inside a pickle ...
    max_archive_depth: int = 5  # zip in tar in zip ...
    max_archive_members: int = 100_000
    max_member_bytes: int = 8 * GiB  # one decompressed archive member / compressed stream
    max_total_decompressed: int = 32 * GiB  # all decompression of one top-level file (zip bombs)
    max_compression_ratio: int = 1000  # a member expanding more than this is a bomb
    max_text_bytes: int = 16 * MiB  # JSON configs, templates read whole
    # Round 23 follow-up: a JSON file (tokenizer.json: Gemma's is ~33 MB) is parsed whole up to this bound and its
    # string values judged as templates; a text past max_text_bytes whose tags are only "weak" markup (a vocabulary
    # holding "{{") is read up to it to ask Jinja's parser whether it is a template at all. Parsing costs about 12x
    # the file in memory (measured: 33 MB -> 0.43 GB, 100 MB -> 1.25 GB peak RSS), so 64 MiB (~0.8 GB) is twice the
    # largest real tokenizer.json known, not more. `weightwarden scan --max-parse-bytes` raises it.
    max_parse_bytes: int = 64 * MiB
    max_files: int = 1_000_000  # files in one folder tree


DEFAULT_LIMITS = Limits()
