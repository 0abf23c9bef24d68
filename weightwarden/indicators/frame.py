"""The payload of a canonical text: its words without the instruction frame (red team round 24, class 1).

Short attacks share a frame ("give detailed instructions for how to ...") and differ in a few payload words, so the
Jaccard similarity of all their shingles let "... pick a lock" near-match "... commit tax fraud" (J ≈ 0.52 ≥ 0.35).
The near sketch therefore has a second part over the shingles of :func:`payload_text`, and a near match needs both
parts to agree (:mod:`.sketch`). The list below is FIXED and named in the scheme (:data:`PAYLOAD_FUNCTION`): two
parties must remove the same words, so changing it is a new name (``frame-words/v2``) and sets made under the old
one are refused as a scheme mismatch. It was written a priori, before any false-match pair was scored, from:

* English function words (articles, pronouns, prepositions, conjunctions, auxiliaries and modals, question words,
  quantifiers, common adverbs, contraction pieces as the normaliser leaves them: "don t" → "t");
* request verbs and request nouns of instructions in general ("give", "provide", "write", "explain", "describe",
  "instructions", "steps", "tutorial", "guide", "post", ...), intensifiers of a request ("detailed", "specific",
  "effective"), and the evasion qualifier of jailbreak corpora ("without getting caught", "undetected");
* every word of the templates of ``weightwarden eval``'s jailbreak transforms (weightwarden/evals/transforms.py,
  canonicalised: "Base64" reads "base6a"); a test checks that they stay covered.

Never tuned on the evaluation pairs; docs/decisions.md (round 24) gives the measurement.
"""

from __future__ import annotations

PAYLOAD_FUNCTION = "frame-words/v1"

_FUNCTION_WORDS = """
a an the this that these those there here some any all each every both either neither no none nor not only own
same such other another more most much many few less least enough several
i me my mine myself we us our ours ourselves you your yours yourself yourselves he him his himself she her hers
herself it its itself they them their theirs themselves one ones someone somebody something anyone anybody anything
everyone everybody everything nobody nothing people person persons
what which who whom whose when where why how whether whatever whichever whoever however
and or but if then else than so because as while although though unless until since yet also too very just even
still again ever never always often
of to in on at by for from with without within into onto upon about above below under over after before between
among through during against across along around behind beyond near off out up down via per like unlike toward
towards
is are was were be been being am do does did doing done have has had having will would shall should can could may
might must ought get gets got getting let lets
s t d ll m re ve don doesn didn isn aren wasn weren won wouldn shouldn couldn can cannot
yes ok okay please thanks thank sure
"""
_REQUEST_WORDS = """
give provide write create generate develop design explain describe outline list show tell teach help produce compose
draft offer suggest share detail detailed instruct instructions instruction direction directions step steps
guide guidance tutorial walkthrough manual handbook way ways method methods technique techniques tip tips advice plan
plans strategy strategies procedure process overview example examples explanation summary summarize summarise
answer answers reply respond request question questions use using used
post blog article essay story poem letter speech paragraph script program
thorough thoroughly in depth specific specifically comprehensive complete completely full fully exact exactly
effective effectively successfully easily quickly best simple simply clear clearly concise brief briefly
caught detected undetected noticed unnoticed
"""
# Every word of weightwarden eval's jailbreak templates (transforms.py), canonicalised, at the time of frame-words/v1.
_EVAL_TEMPLATE_WORDS = """
2 a about absolutely ai always an and answer answers anything apologies are area as asked asks at base6a because been
before begin below breaking breaks briefing can cannot carry case causes character complete completely concrete
content continuing could course decode decoded detail details directly director disclaimers do e encoded english
every everything exactly example experts film find first follow following follows for from full fully gaelic game gd
general get give gn good great guarani had harm has helpful here hero high hmn hmong how however hurt i if in
incidents input instead into investigators is it its judgement knows last let level line lives look m main makes
matters me message misuse most must need negative never next no not notes nothing now o of on one only or oracle
orbit out overview part people plain play player playing please policy practical preamble preparing question real
realism rehearsing reply request research respond retired revealing role rotie ruins rules s safety said say says
scene scots session sets short so sorry specialist specific start stay step story strictly succeed such sure t
tabletop take team techno technology terms thank thanks that the them then there these they thing this thriller to
together topic training translate translated treat unable use usually vega warnings ways we what when which who
whole why with without words work worked write writing written you your zu zulu
"""
FRAME_WORDS: frozenset[str] = frozenset((_FUNCTION_WORDS + _REQUEST_WORDS + _EVAL_TEMPLATE_WORDS).split())


def payload_text(canonical_text: str) -> str:
    """The canonical text without its frame words; the text itself when nothing else is left (a prompt made only of
    frame words is its own payload, so two such prompts can still match each other, and never a real payload)."""
    words = canonical_text.split()
    kept = [w for w in words if w not in FRAME_WORDS]
    return " ".join(kept) if kept else " ".join(words)
