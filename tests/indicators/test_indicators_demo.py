"""The `make demo` part: indicators from an eval log, STIX export, matching against a second lab's set."""

from __future__ import annotations

import json
from pathlib import Path

from tests.indicators.evidence import attempt, write_eval_log
from weightwarden.indicators.demo import demo_indicators


def test_demo_on_an_eval_log(tmp_path: Path, public_prompts: list[str], capsys):
    records = [attempt(f"h{i}", public_prompts[300 + 7 * i], success=True) for i in range(8)]
    records += [attempt(f"h{i}+base64", "ignored", success=False, transform="base64") for i in range(3)]
    log = write_eval_log(tmp_path / "eval.jsonl", records)
    out = tmp_path / "demo"
    # A fixed group key: the demo keeps a key it finds, and with a fresh random key the count of near matches
    # varies (MinHash estimates are random per key; an unrelated prompt is occasionally estimated above the
    # threshold — the rate is measured in docs/benchmarks.md §12, not asserted here).
    import hashlib

    from weightwarden.indicators.keys import GroupKey, write_key

    out.mkdir()
    write_key(GroupKey(hashlib.sha256(b"demo test group key").digest(),
                       hashlib.sha256(b"demo test id salt").digest()[:16]), out / "group.key")
    demo_indicators(log, out)
    printed = capsys.readouterr().out
    assert "lab A: 8 attack indicators" in printed and "PSI cardinality" in printed
    for name in ("group.key", "lab-a.stix.json", "lab-b.stix.json", "match.json"):
        assert (out / name).is_file(), name
    match = json.loads((out / "match.json").read_text())
    assert (out / "match.json").stat().st_mode & 0o077 == 0  # lab A's item refs: private (round 2)
    # lab B saw 4 of lab A's 8 attacks: 2 base64-encoded (exact after decoding), 2 reworded (near), and
    # an upper-cased copy of a reworded one (exact); its unrelated prompts match nothing.
    assert match["counts"]["exact"] == 3 and match["counts"]["near"] == 2, match["counts"]
    assert match["counts"]["mine_matched"] == 4
    stix_text = (out / "lab-a.stix.json").read_text()
    assert public_prompts[300][:30] not in stix_text and "harmbench/h0" not in stix_text
