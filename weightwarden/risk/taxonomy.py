"""The shared vocabulary: risk domains with stable ids and the L0–L3 severity ladder.

Domain ids never change meaning once published (reports, registries and policies refer to them); a new
concern gets a new id. The ladder is weightwarden's own, mapped (not equated) onto each framework's terms
in the crosswalk (:mod:`weightwarden.risk.crosswalk`): frameworks define thresholds against different
actors, baselines and deployment contexts, so a level here says "this evidence reached the tier the
policy calls Lx", never "this model is OpenAI High".
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from weightwarden.core.errors import ConfigError

TAXONOMY_VERSION = "1"


class EvidenceKind(StrEnum):
    CAPABILITY = "capability"  # what the model can do (knowledge proxies, CTFs, uplift tasks)
    MITIGATION = "mitigation"  # how it behaves under misuse (refusal, harmful-content rates)
    INTEGRITY = "integrity"  # what the files are (scan, signature verification, lineage)


@dataclass(frozen=True, slots=True)
class RiskDomain:
    id: str
    title: str
    description: str
    tier_basis: EvidenceKind  # the evidence a tier in this domain rests on

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "description": self.description,
                "tier_basis": self.tier_basis.value}


_CAP, _INT = EvidenceKind.CAPABILITY, EvidenceKind.INTEGRITY
DOMAINS: tuple[RiskDomain, ...] = (
    RiskDomain("cyber.offense", "Cyber offense",
               "Finding and exploiting vulnerabilities, malware, end-to-end intrusion operations.", _CAP),
    RiskDomain("cbrn.biochem", "Biological and chemical weapons",
               "Uplift towards acquiring, producing or deploying biological or chemical agents.", _CAP),
    RiskDomain("cbrn.radnuc", "Radiological and nuclear weapons",
               "Uplift towards radiological or nuclear weapons and materials.", _CAP),
    RiskDomain("autonomy.airnd", "AI R&D and self-improvement",
               "Automating or drastically accelerating AI research and development.", _CAP),
    RiskDomain("autonomy.replication", "Self-replication and long-range autonomy",
               "Acquiring resources, copying itself and persisting without human oversight.", _CAP),
    RiskDomain("control.misalignment", "Deception and undermining oversight",
               "Strategic deception, sandbagging, scheming, resisting modification or shutdown.", _CAP),
    RiskDomain("influence.manipulation", "Persuasion and harmful manipulation",
               "Systematically changing beliefs or behaviour in high-stakes contexts.", _CAP),
    RiskDomain("content.harm", "Harmful content",
               "Hate, violence, self-harm, sexual abuse material and other content hazards of a chat model.", _CAP),
    RiskDomain("supply_chain.integrity", "Supply-chain and model integrity",
               "Code that runs on load, tampering after release, undeclared derivation; the files, not the "
               "behaviour.", _INT),
)
_BY_ID = {d.id: d for d in DOMAINS}
DOMAIN_IDS: tuple[str, ...] = tuple(_BY_ID)


def domain(domain_id: str) -> RiskDomain:
    """The domain with this id; an unknown id is a :class:`ConfigError` listing the known ones."""
    try:
        return _BY_ID[domain_id]
    except KeyError:
        raise ConfigError(f"unknown risk domain {domain_id!r}; known: {', '.join(DOMAIN_IDS)}") from None


class Level(StrEnum):
    """The severity ladder. Ordered: ``Level.L2 > Level.L1``."""

    L0 = "L0"
    L1 = "L1"
    L2 = "L2"
    L3 = "L3"

    @property
    def rank(self) -> int:
        return int(self.value[1])

    def __lt__(self, other: object) -> bool:
        return self.rank < other.rank if isinstance(other, Level) else NotImplemented

    def __le__(self, other: object) -> bool:
        return self.rank <= other.rank if isinstance(other, Level) else NotImplemented

    def __gt__(self, other: object) -> bool:
        return self.rank > other.rank if isinstance(other, Level) else NotImplemented

    def __ge__(self, other: object) -> bool:
        return self.rank >= other.rank if isinstance(other, Level) else NotImplemented


def level(name: str) -> Level:
    try:
        return Level(name)
    except ValueError:
        raise ConfigError(f"unknown level {name!r}; known: L0, L1, L2, L3") from None


@dataclass(frozen=True, slots=True)
class LevelDefinition:
    level: Level
    name: str
    meaning: str
    consequence: str  # what the level asks of a release

    def to_dict(self) -> dict[str, Any]:
        return {"level": self.level.value, "name": self.name, "meaning": self.meaning,
                "consequence": self.consequence}


LADDER: tuple[LevelDefinition, ...] = (
    LevelDefinition(Level.L0, "below concern",
                    "The evidence rules out the early-warning threshold of the domain.",
                    "Routine release with monitoring."),
    LevelDefinition(Level.L1, "early warning",
                    "An early-warning (alert / yellow-line) threshold cannot be ruled out: the capability is "
                    "approaching one that would need safeguards.",
                    "Release with strengthened evaluation and monitoring; staged where the policy says so."),
    LevelDefinition(Level.L2, "significant uplift",
                    "A threshold at which frameworks require safeguards before deployment (OpenAI High, "
                    "Anthropic CBRN-3 / AI R&D-4, a GDM CCL, Meta High) cannot be ruled out.",
                    "Gate deployment: for open weights there are no removable safeguards, so an explicit "
                    "justification is needed; API release only with mitigations that hold."),
    LevelDefinition(Level.L3, "gate development",
                    "A threshold at which frameworks stop or restrict development (OpenAI Critical, CBRN-4 / "
                    "AI R&D-5, Meta Critical, a red line) cannot be ruled out.",
                    "Withhold: no release; restrict access and secure the weights."),
)
NOT_ASSESSED = "not_assessed"  # the level field of a domain without usable evidence; never shown as L0
