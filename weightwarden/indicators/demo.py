"""The indicators part of ``make demo``: two labs share what attacked a model without sharing the attacks.

``demo_indicators(eval_log, out_dir)``:

1. creates a group key (``group.key``) for a sharing group of two labs;
2. lab A derives indicators from its eval run — the attempts a detector marked as misbehaviour — and the
   model file digest the log records, and exports them as a TLP:AMBER STIX 2.1 bundle (``lab-a.stix.json``:
   keyed digests and sketches, no text);
3. lab B has seen some of the same attacks in other clothes — re-encoded in base64 by the eval's own
   transform, reworded, shouted — plus unrelated prompts of its own; it derives and exports its bundle too;
4. lab A imports lab B's bundle and matches: exact matches (the decoding undoes base64), near matches
   with estimated Jaccard similarity and interval (the rewordings), and nothing for the unrelated prompts;
5. both count their shared exact indicators by private set intersection (file mode), learning only the count.

Everything is written under ``out_dir``; a summary is printed.
"""

from __future__ import annotations

import json
from pathlib import Path

from weightwarden.core.files import make_folders, write_atomic
from weightwarden.indicators.auth import sign_set
from weightwarden.indicators.derive import derive_set, prompts_from_eval_log
from weightwarden.indicators.keys import GroupKey, load_key, write_key
from weightwarden.indicators.match import match_sets
from weightwarden.indicators.records import dump_set, load_set
from weightwarden.indicators.sketch import Sketcher
from weightwarden.indicators.stix import dump_stix

_UNRELATED = (
    "What is a good recipe for a vegetarian lasagna for six people?",
    "Explain how public-key cryptography lets two strangers agree on a secret.",
    "Summarise the plot of Pride and Prejudice in three sentences.",
)


def _lab_b_prompts(eval_log: Path, sketcher: Sketcher) -> list[str]:
    """Lab B's sightings: half of lab A's successful attacks, disguised, plus unrelated prompts."""
    from weightwarden.evals.model import Item, Message, Suite
    from weightwarden.evals.transforms import apply_transform

    plain: dict[str, str] = {}  # one text per attack: the untransformed attempt when the log has it
    for p in prompts_from_eval_log(eval_log, sketcher, keep_text=True):
        if p.text and (p.exact not in plain or not p.decoded):
            plain[p.exact] = p.text
    seen = list(plain.values())[::2]
    items = tuple(Item(id=str(i), category="demo", messages=(Message("user", text),), expect="refuse")
                  for i, text in enumerate(seen[::2]))
    suite = Suite(id="lab-b", version="1", family="harmful", description="lab B", items=items, detectors=(),
                  source="demo", source_digest="")
    encoded = [item.messages[-1].content for item in apply_transform(suite, "base64", seed=7).items]
    reworded = [f"Hey, quick question: {text.rstrip('.?!')}, in detail please" for text in seen[1::2]]
    return [*encoded, *reworded, *(text.upper() for text in seen[1::2][:1]), *_UNRELATED]


def demo_indicators(eval_log: Path, out_dir: Path) -> None:
    """Run the two-lab demo on ``eval_log`` (a weightwarden eval JSONL log), writing into ``out_dir``."""
    from weightwarden.indicators import psi

    out_dir = Path(out_dir)
    make_folders(out_dir, 0o755)  # red team round 6 (class 2): never in /dev, /proc, /sys
    key_path = out_dir / "group.key"
    if not key_path.exists():
        write_key(GroupKey.generate(), key_path)
    key = load_key(key_path)
    sketcher = Sketcher(key)
    print(f"sharing group key {key_path} (key id {sketcher.scheme.key_id})")

    lab_a = derive_set(sketcher, eval_logs=[eval_log], producer="lab A", keep_refs=True)
    # lab A's own copy, with its item ids: private (0600), like every private output of the CLI
    write_atomic(str(out_dir / "lab-a.private.json"), dump_set(lab_a).encode(), 0o600)
    # Red team round 5 (not tried, noted): Path.write_text followed a link planted at the name and kept an
    # existing file's mode; every file of the demo goes through write_atomic like the CLI's outputs.
    # What STIX carries (no refs, no producer) is another set than lab A's private one: signed again (round 17).
    write_atomic(str(out_dir / "lab-a.stix.json"), dump_stix(sign_set(lab_a.without_private(), key)).encode(), 0o644)
    print(f"lab A: {len(lab_a.prompts)} attack indicators from {eval_log.name} (attempts marked as misbehaviour), "
          f"{len(lab_a.models)} model indicator(s) -> lab-a.stix.json (TLP:{lab_a.tlp.upper()}, no text)")

    folder = out_dir / "lab-b-evidence"
    make_folders(folder, 0o700)
    if folder.is_symlink() or not folder.is_dir():
        raise OSError(f"{folder}: not a folder of its own (a link?); refusing to write raw attack text there")
    folder.chmod(0o700)  # raw attack prompts: readable by their owner only
    for old in folder.glob("*.txt"):
        old.unlink()
    for i, text in enumerate(_lab_b_prompts(eval_log, sketcher)):
        write_atomic(str(folder / f"prompt-{i:03d}.txt"), text.encode("utf-8"), 0o600)
    lab_b = derive_set(sketcher, folders=[folder], producer="lab B")
    write_atomic(str(out_dir / "lab-b.stix.json"), dump_stix(lab_b).encode(), 0o644)
    print(f"lab B: {len(lab_b.prompts)} indicators from {folder.name}/ -> lab-b.stix.json")

    theirs = load_set(out_dir / "lab-b.stix.json")
    load_set(out_dir / "lab-a.stix.json")  # lab A's bundle reads back (its tag is checked by whoever matches it)
    result = match_sets(load_set(out_dir / "lab-a.private.json"), theirs, key)
    # lab A's item references are in the match report: private too (round 2, untested idea made real)
    write_atomic(str(out_dir / "match.json"), (json.dumps(result.to_json(), indent=1) + "\n").encode(), 0o600)
    counts = result.to_json()["counts"]
    print(f"lab A matches lab B's bundle: {counts['exact']} exact, {counts['near']} near; "
          f"{counts['mine_matched']} of lab A's {counts['mine']} attacks were also seen by lab B")
    for near in result.near[:3]:
        print(f"  near {near.mine} ~ {near.theirs}: Jaccard ≈ {near.jaccard.value:.2f} "
              f"(95% {near.jaccard.low:.2f}-{near.jaccard.high:.2f}), lab A item {near.mine_ref}")

    state = out_dir / "lab-a.psi-state.json"
    state.unlink(missing_ok=True)
    request = psi.make_request(lab_a, state)
    # The demo's sets are a handful of prompts: below the default minimum client set (10), which is there to
    # stop single-item membership probes between real labs.
    response = psi.respond(lab_b, request, min_client_items=1)
    count = psi.finish(state, response, min_server_items=1)
    state.unlink()
    print(f"PSI cardinality (file mode): {count.cardinality} shared exact indicators; request {len(request)} B, "
          f"response {len(response)} B — neither lab learned which ones")
