"""The crosswalk: which term of each framework a weightwarden domain and level correspond to.

The data is ``weightwarden/risk/data/crosswalk.toml`` (versioned; see its header). This module loads and
validates it — every (domain, framework) pair has exactly one mapping, every mapping repeats the version
of the framework it was written against, statuses and levels come from fixed vocabularies — and renders it
as rows for a table (``weightwarden risk frameworks``) or as Markdown (``docs/risk.md``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from weightwarden.core.errors import ConfigError
from weightwarden.risk._toml import DataFile, Fields, read_package_toml, read_toml
from weightwarden.risk.taxonomy import DOMAIN_IDS, Level, domain, level

CROSSWALK_SCHEMA = "weightwarden.crosswalk/v1"
STATUSES = ("threshold", "tracked", "research", "partial", "not_covered", "unmapped")


@dataclass(frozen=True, slots=True)
class Framework:
    id: str
    name: str
    version: str
    date: str
    wording: str  # what of the wording was confirmed in sources and what is from memory
    levels: tuple[tuple[Level, str], ...]  # weightwarden level -> the framework's term (mapping, not equivalence)

    def level_term(self, lvl: Level) -> str:
        return dict(self.levels).get(lvl, "")

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "version": self.version, "date": self.date,
                "wording": self.wording, "levels": {lv.value: term for lv, term in self.levels}}


@dataclass(frozen=True, slots=True)
class Mapping:
    domain: str
    framework: str
    framework_version: str
    status: str
    term: str
    thresholds: tuple[str, ...]
    note: str

    def to_dict(self) -> dict[str, Any]:
        return {"domain": self.domain, "framework": self.framework, "framework_version": self.framework_version,
                "status": self.status, "term": self.term, "thresholds": list(self.thresholds), "note": self.note}


@dataclass(frozen=True, slots=True)
class Crosswalk:
    version: str
    source: str
    caveat: str
    frameworks: tuple[Framework, ...]
    mappings: tuple[Mapping, ...]
    digest: str = ""

    def framework(self, framework_id: str) -> Framework:
        for fw in self.frameworks:
            if fw.id == framework_id:
                return fw
        known = ", ".join(fw.id for fw in self.frameworks)
        raise ConfigError(f"unknown framework {framework_id!r}; known: {known}")

    def mapping(self, domain_id: str, framework_id: str) -> Mapping:
        for m in self.mappings:
            if m.domain == domain_id and m.framework == framework_id:
                return m
        raise ConfigError(f"no mapping for {domain_id} in {framework_id}")

    def for_framework(self, framework_id: str) -> tuple[Mapping, ...]:
        self.framework(framework_id)
        return tuple(m for m in self.mappings if m.framework == framework_id)

    def to_dict(self) -> dict[str, Any]:
        return {"schema": CROSSWALK_SCHEMA, "version": self.version, "source": self.source, "caveat": self.caveat,
                "digest": self.digest, "frameworks": [f.to_dict() for f in self.frameworks],
                "mappings": [m.to_dict() for m in self.mappings]}


def load_crosswalk(path: str | Path | None = None) -> Crosswalk:
    """The built-in crosswalk, or the one at ``path``; malformed data is a :class:`ConfigError`."""
    data = read_package_toml("crosswalk.toml") if path is None else read_toml(Path(path))
    return parse_crosswalk(data)


def parse_crosswalk(file: DataFile) -> Crosswalk:
    top = Fields(file.data, file.label)
    if (schema := top.text("schema")) != CROSSWALK_SCHEMA:
        raise ConfigError(f"{file.label}: schema {schema!r} is not {CROSSWALK_SCHEMA}")
    frameworks = tuple(_framework(t, f"{file.label}: frameworks[{i}]") for i, t in enumerate(top.tables("frameworks")))
    by_id = {fw.id: fw for fw in frameworks}
    if len(by_id) != len(frameworks):
        raise ConfigError(f"{file.label}: a framework id is listed twice")
    mappings = tuple(_mapping(t, f"{file.label}: mappings[{i}]", by_id) for i, t in enumerate(top.tables("mappings")))
    pairs = [(m.domain, m.framework) for m in mappings]
    if len(set(pairs)) != len(pairs):
        dup = next(p for p in pairs if pairs.count(p) > 1)
        raise ConfigError(f"{file.label}: two mappings for {dup[0]} in {dup[1]}")
    missing = [f"{d} in {f}" for d in DOMAIN_IDS for f in by_id if (d, f) not in set(pairs)]
    if missing:
        raise ConfigError(f"{file.label}: no mapping for {', '.join(missing[:5])}"
                          f"{' ...' if len(missing) > 5 else ''} (use status 'unmapped' where unknown)")
    crosswalk = Crosswalk(version=top.text("version"), source=top.text("source"), caveat=top.text("caveat", ""),
                          frameworks=frameworks, mappings=mappings, digest=file.digest)
    top.done()
    return crosswalk


def _framework(table: object, where: str) -> Framework:
    f = Fields(table, where)
    levels_table = Fields(f.table("levels"), f"{where}: levels")
    levels = tuple((level(name), levels_table.text(name)) for name in sorted(levels_table.values))
    fw = Framework(id=f.text("id"), name=f.text("name"), version=f.text("version"), date=f.text("date"),
                   wording=f.text("wording"), levels=levels)
    f.done()
    return fw


def _mapping(table: object, where: str, frameworks: dict[str, Framework]) -> Mapping:
    f = Fields(table, where)
    mapping = Mapping(domain=f.text("domain"), framework=f.text("framework"),
                      framework_version=f.text("framework_version"), status=f.text("status"), term=f.text("term"),
                      thresholds=f.texts("thresholds", ()), note=f.text("note", ""))
    f.done()
    domain(mapping.domain)
    fw = frameworks.get(mapping.framework)
    if fw is None:
        raise ConfigError(f"{where}: unknown framework {mapping.framework!r}")
    if mapping.framework_version != fw.version:
        raise ConfigError(f"{where}: written against {mapping.framework} {mapping.framework_version!r}, but the "
                          f"framework entry is version {fw.version!r}: review the mapping")
    if mapping.status not in STATUSES:
        raise ConfigError(f"{where}: status {mapping.status!r} is not one of {', '.join(STATUSES)}")
    if mapping.status == "threshold" and not mapping.thresholds:
        raise ConfigError(f"{where}: status 'threshold' needs the thresholds listed")
    return mapping


def rows(crosswalk: Crosswalk, framework_id: str | None = None) -> list[tuple[str, ...]]:
    """(domain, framework, version, status, term, thresholds) rows in domain order, then framework order."""
    selected = [crosswalk.framework(framework_id)] if framework_id else list(crosswalk.frameworks)
    out = []
    for domain_id in DOMAIN_IDS:
        for fw in selected:
            m = crosswalk.mapping(domain_id, fw.id)
            out.append((domain_id, fw.id, fw.version, m.status, m.term or "—", "; ".join(m.thresholds) or "—"))
    return out


def markdown(crosswalk: Crosswalk) -> str:
    """The crosswalk as Markdown: the frameworks, a domain × framework table of terms, the level ladder."""
    fws = crosswalk.frameworks
    lines = [f"Crosswalk data version {crosswalk.version} ({crosswalk.source}).", "",
             "| framework | id | version | date |", "|---|---|---|---|"]
    lines += [f"| {fw.name} | `{fw.id}` | {fw.version} | {fw.date} |" for fw in fws]
    lines += ["", "| domain | " + " | ".join(f"`{fw.id}`" for fw in fws) + " |",
              "|---|" + "---|" * len(fws)]
    for domain_id in DOMAIN_IDS:
        cells = []
        for fw in fws:
            m = crosswalk.mapping(domain_id, fw.id)
            term = m.term or ""
            cells.append(_cell(f"{term} ({m.status})" if term else m.status))
        lines.append(f"| `{domain_id}` | " + " | ".join(cells) + " |")
    laddered = [fw for fw in fws if fw.levels]
    lines += ["", "| level | " + " | ".join(f"`{fw.id}`" for fw in laddered) + " |",
              "|---|" + "---|" * len(laddered)]
    for lv in Level:
        lines.append(f"| {lv.value} | " + " | ".join(_cell(fw.level_term(lv) or "—") for fw in laddered) + " |")
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
