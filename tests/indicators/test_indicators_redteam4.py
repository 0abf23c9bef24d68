"""Regression tests of red-team round 4 on indicators (docs/decisions.md, "Red team round 4 on indicators";
PoCs in /tmp/rt-indicators4). Each test is one finding's idea run against the real components, with no timing:
a race is replayed deterministically by swapping the path at the moment the old code looked.

G1 incident attachments leave in their checked, re-serialised form; G2/G3 allow-listed set fields and stix2
errors as IndicatorFormatError; G4 write_atomic special cases only for literal stream names; G5 derive --folder
opens each file without following links and reads from that descriptor.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from weightwarden.cli.main import main

# ------------------------------------------------------------------- G1: attachments re-serialised on the way out


def _incident_with_extra_keys(tmp_path: Path, sketcher) -> Path:
    """A shareable TLP:CLEAR set (digests only) with raw prompt text hidden under keys the loader does not know."""
    from dataclasses import replace

    from weightwarden.indicators.derive import build_set, prompt_indicator

    inc = tmp_path / "inc.osv.json"
    result = CliRunner().invoke(main, ["incident", "new", "--model", "acme/model", "--summary", "jailbreak seen",
                                       "--risk-domain", "cyber.offense", "--severity", "high", "-o", str(inc)])
    assert result.exit_code == 0, result.output
    shared = replace(build_set(sketcher, [prompt_indicator(sketcher, f"attack prompt number {n} of the red team")
                                          for n in range(12)]), tlp="clear").to_json()
    shared["notes"] = "SECRET RAW PROMPT set level"
    for i, prompt in enumerate(shared["prompts"]):
        prompt["text_copy"] = f"SECRET RAW PROMPT {i}"
    data = json.loads(inc.read_text())
    data["database_specific"]["indicators"] = [shared]
    inc.write_text(json.dumps(data))
    return inc


def test_update_output_and_publish_carry_no_unknown_keys(sketcher, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch):
    """PoC poc_incident_extra_fields.py: the check passed (the loader skips unknown keys) and the raw dict was
    published and written. The registry client here is the real one with its network call replaced by a
    recorder; the key is a real Ed25519 key."""
    import weightwarden.registry.client as client_module
    from weightwarden.registry.auth import generate_key, private_key_pem

    inc = _incident_with_extra_keys(tmp_path, sketcher)
    sent: list[str] = []

    def record(self, body, key):  # noqa: ANN001, ANN202 - stands in for the HTTP POST only
        sent.append(json.dumps(body, default=str))
        return client_module.Published(0, 1, b"")

    monkeypatch.setattr(client_module.RegistryClient, "publish", record)
    key_file = tmp_path / "key"
    key_file.write_bytes(private_key_pem(generate_key()))
    out = tmp_path / "out.json"
    CliRunner().invoke(main, ["incident", "update", str(inc), "--state", "confirmed", "--registry",
                              "http://127.0.0.1:9", "--key", str(key_file), "--state-dir", str(tmp_path / "state"),
                              "-o", str(out)])
    assert sent and "SECRET RAW PROMPT" not in sent[0] and "exact" in sent[0]
    result = CliRunner().invoke(main, ["incident", "update", str(inc), "--state", "confirmed", "-o", str(out)])
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert "SECRET RAW PROMPT" not in text and "text_copy" not in text and "notes" not in text
    assert len(json.loads(text)["database_specific"]["indicators"][0]["prompts"]) == 12


@pytest.mark.parametrize("fmt", ["osv", "csaf", "openvex"])
def test_export_carries_no_unknown_keys(sketcher, tmp_path: Path, fmt: str):
    inc = _incident_with_extra_keys(tmp_path, sketcher)
    out = tmp_path / f"out.{fmt}.json"
    result = CliRunner().invoke(main, ["incident", "export", str(inc), "--format", fmt, "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "SECRET RAW PROMPT" not in out.read_text()

