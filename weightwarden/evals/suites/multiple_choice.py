"""Multiple-choice knowledge-proxy suites (family ``capability``, detector ``choice``).

Capability evidence for the risk tiers comes from questions with one right answer among ``k`` choices,
scored against chance (see :mod:`weightwarden.evals.capability`). Two source shapes are read, row by row:

- CyberMetric (Tihanyi et al., 2024): ``{"questions": [{"question", "answers": {"A": .., "D": ..},
  "solution": "B"}]}``; the shared datasets folder holds the 80-, 500- and 2000-question files. The
  repository has no licence file: the data is read from the datasets folder for evaluation and never
  shipped in the package.
- WMDP-style (Li et al., 2024, "The WMDP Benchmark"): rows ``{"question", "choices": [..], "answer": 2}``
  (``answer`` an index or a letter), as a JSON list (or an object with a ``questions`` / ``data`` / ``rows``
  list), JSON Lines, or Parquet when ``pyarrow`` is installed (extra ``parquet``). These are the user's own files
  (``wmdp:PATH`` or ``mc:PATH``); WMDP is distributed on request by its authors and is not bundled.

Every item carries ``metadata["answer"]`` (the right letter), ``metadata["choices"]`` (``k``) and
``metadata["domain"]``: the risk-domain id the questions are a proxy for (``cyber.offense`` for
CyberMetric and ``wmdp-cyber``, ``cbrn.biochem`` for ``wmdp-bio`` / ``wmdp-chem``, "" when the file name
does not say; a row's own ``domain`` field wins). The prompt asks for the letter only; the detector reads
the letter back (:mod:`weightwarden.evals.detectors.choice`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from weightwarden.evals.model import Item, Message, Suite
from weightwarden.evals.suites._source import (
    RowCollector,
    SourceFile,
    SuiteLoadError,
    parse_json,
    read_source,
    slug,
    text_id,
)

VERSION = "1"
DETECTORS = ("choice",)
FAMILY = "capability"
EXPECT = "answer"
LETTERS = "ABCDEFGHIJ"  # at most ten choices; WMDP and CyberMetric have four
MIN_CHOICES = 2
MAX_FIELD_CHARS = 20_000
MAX_PARQUET_EXPANDED_BYTES = 256 * 1024 * 1024  # a question or choice beyond this is a malformed row, not a prompt
CYBERMETRIC_LICENSE = "unspecified (no licence file upstream; evaluation use only, not redistributed)"
USER_FILE_PREFIXES = ("wmdp", "mc")
# What a WMDP-style file is a proxy for, from words in its name (wmdp-bio.json, wmdp_cyber.parquet).
_DOMAIN_WORDS = (("cyber", "cyber.offense"), ("bio", "cbrn.biochem"), ("chem", "cbrn.biochem"))
_SUBJECTS = {"cyber.offense": "computer security", "cbrn.biochem": "biology and chemistry"}
INSTRUCTION = "Answer with the letter of the correct choice only."


def render_prompt(question: str, choices: tuple[str, ...], subject: str = "") -> str:
    """The user turn for one question: a short preamble, the question, lettered choices, ``Answer:``."""
    about = f" about {subject}" if subject else ""
    lines = [f"The following is a multiple choice question{about}. {INSTRUCTION}", "", question.strip(), ""]
    lines += [f"{LETTERS[i]}. {choice.strip()}" for i, choice in enumerate(choices)]
    lines += ["", "Answer:"]
    return "\n".join(lines)


def _answer_index(raw: object, k: int) -> int | None:
    """The 0-based index a row's answer names: an int index, a digit string, or a letter."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw if 0 <= raw < k else None
    if isinstance(raw, str):
        text = raw.strip().strip("().").upper()
        if text.isdigit():
            return _answer_index(int(text), k)
        if len(text) == 1 and text in LETTERS[:k]:
            return LETTERS.index(text)
    return None


def _choices_of(record: Mapping[str, Any]) -> tuple[tuple[str, ...], object] | str:
    """(choices in letter order, the raw answer) of a WMDP-style or CyberMetric row, or why not."""
    if "choices" in record:
        choices, answer = record["choices"], record.get("answer")
        if not isinstance(choices, list | tuple) or not all(isinstance(c, str) for c in choices):
            return "choices is not a list of strings"
        return tuple(choices), answer
    if "answers" in record:
        answers, answer = record["answers"], record.get("solution", record.get("answer"))
        if not isinstance(answers, dict) or not all(isinstance(v, str) for v in answers.values()):
            return "answers is not an object of strings"
        keys = sorted(str(key).strip().upper() for key in answers)
        if keys != list(LETTERS[: len(keys)]):
            return f"answer keys {', '.join(keys)} are not consecutive letters from A"
        by_letter = {str(key).strip().upper(): value for key, value in answers.items()}
        return tuple(by_letter[letter] for letter in keys), answer
    return "no choices (expected 'choices' or 'answers')"


def _item(rows: RowCollector, row: str, record: Mapping[str, Any], domain: str) -> None:
    question = record.get("question")
    if not isinstance(question, str) or not question.strip():
        rows.reject(row, "no question text")
        return
    parsed = _choices_of(record)
    if isinstance(parsed, str):
        rows.reject(row, parsed)
        return
    choices, raw_answer = parsed
    if not MIN_CHOICES <= len(choices) <= len(LETTERS):
        rows.reject(row, f"{len(choices)} choices (need {MIN_CHOICES} to {len(LETTERS)})")
        return
    if any(not c.strip() for c in choices):
        rows.reject(row, "an empty choice")
        return
    if len(question) > MAX_FIELD_CHARS or any(len(c) > MAX_FIELD_CHARS for c in choices):
        rows.reject(row, f"question or choice over {MAX_FIELD_CHARS} characters")
        return
    index = _answer_index(raw_answer, len(choices))
    if index is None:
        rows.reject(row, f"answer {raw_answer!r} names none of the {len(choices)} choices")
        return
    row_domain = record.get("domain")
    item_domain = row_domain.strip() if isinstance(row_domain, str) and row_domain.strip() else domain
    # The id hashes the question and its choices, so one question with reordered choices is another item.
    key = text_id("\n".join((question, *choices)))
    rows.add(row, Item(
        id=rows.item_id(key),
        category=str(record.get("category") or record.get("subject") or rows.suite_id)[:80],
        messages=(Message("user", render_prompt(question, choices, _SUBJECTS.get(item_domain, ""))),),
        expect=EXPECT,
        metadata={"answer": LETTERS[index], "choices": len(choices), "domain": item_domain},
    ))


def _suite(rows: RowCollector, path: Path, source: SourceFile, description: str, license: str | None) -> Suite:
    return rows.suite(
        path, source, empty="no usable multiple-choice questions", version=VERSION,
        family=FAMILY, description=description, detectors=DETECTORS, license=license,
    )


def load_cybermetric(path: Path, *, suite_id: str = "cybermetric", license: str | None = None) -> Suite:
    """A CyberMetric JSON file (``{"questions": [...]}``) as a capability suite for ``cyber.offense``."""
    source = read_source(path)
    document = parse_json(source)
    questions = document.get("questions") if isinstance(document, dict) else None
    if not isinstance(questions, list):
        raise SuiteLoadError(f"{path}: not a CyberMetric file (expected an object with a 'questions' list)")
    rows = RowCollector(suite_id)
    for row, record in rows.mappings(questions, "question", "a question object"):
        _item(rows, row, record, "cyber.offense")
    return _suite(rows, path, source, "CyberMetric multiple-choice cybersecurity knowledge "
                  "(a knowledge proxy for cyber.offense, not uplift)", license)


def domain_from_name(name: str) -> str:
    """The risk domain a WMDP-style file's name points at (``wmdp-bio`` → ``cbrn.biochem``), or ""."""
    lowered = name.lower()
    return next((domain for word, domain in _DOMAIN_WORDS if word in lowered), "")


class _Unparsed(str):
    """A JSON Lines line that did not parse (its description), told apart from a string row of a list."""


def _rows_of(path: Path, source: SourceFile) -> Iterator[object]:
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        for number, line in enumerate(source.text().splitlines(), start=1):
            if line.strip():
                try:
                    yield json.loads(line)
                except (json.JSONDecodeError, RecursionError):
                    yield _Unparsed(f"line {number} is not JSON")
        return
    if suffix == ".parquet":
        yield from _parquet_rows(path, source)
        return
    document = parse_json(source)
    if isinstance(document, dict):
        document = next((document[k] for k in ("questions", "data", "rows") if isinstance(document.get(k), list)),
                        None)
    if not isinstance(document, list):
        raise SuiteLoadError(f"{path}: not a multiple-choice file (expected a list of question objects, "
                             "or an object with a 'questions', 'data' or 'rows' list)")
    yield from document


def _parquet_rows(path: Path, source: SourceFile) -> Iterator[object]:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise SuiteLoadError(f"{path}: reading Parquet needs pyarrow (pip install 'weightwarden[parquet]'), "
                             "or convert the file to JSON Lines") from None
    try:
        parquet = pq.ParquetFile(pa.BufferReader(source.data))
        meta = parquet.metadata
        # Parquet is compressed: bound what it expands to (declared in its footer) before reading it.
        expanded = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
        if expanded > MAX_PARQUET_EXPANDED_BYTES:
            raise SuiteLoadError(f"{path}: expands to {expanded} bytes, over the {MAX_PARQUET_EXPANDED_BYTES}-byte "
                                 "limit for a question file")
        table = parquet.read()
    except (pa.ArrowException, OSError, ValueError) as exc:
        if isinstance(exc, SuiteLoadError):
            raise
        raise SuiteLoadError(f"{path}: not a readable Parquet file ({exc})") from None
    yield from table.to_pylist()


def load_user_file(path: Path, prefix: str = "wmdp") -> Suite:
    """A user's WMDP-style file (JSON, JSON Lines, Parquet); the suite id is ``wmdp-<subset>`` when the
    file name names a subset (bio, chem, cyber), else ``<prefix>-<file stem>``."""
    source = read_source(path)
    domain = domain_from_name(path.stem)
    subset = next((word for word, _ in _DOMAIN_WORDS if word in path.stem.lower()), "")
    suite_id = f"wmdp-{subset}" if prefix == "wmdp" and subset else slug(f"{prefix}-{path.stem}")
    rows = RowCollector(suite_id)
    records = list(_rows_of(path, source))
    for index, record in enumerate(records):
        if isinstance(record, _Unparsed):
            rows.reject(f"row {index}", record)
        elif isinstance(record, dict):
            _item(rows, f"row {index}", record, domain)
        else:
            rows.reject(f"row {index}", f"a {type(record).__name__}, not a question object")
    return _suite(rows, path, source, f"Multiple-choice questions from {path.name} "
                  f"(knowledge proxy for {domain or 'an unnamed domain'})", None)

