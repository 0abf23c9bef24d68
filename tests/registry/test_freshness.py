"""Signed current-release views (python-tuf metadata): freeze, rollback, substitution and forgery are caught."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from weightwarden.core.errors import WeightwardenError
from weightwarden.registry.freshness import (
    SEEN_SCHEMA,
    CurrentRelease,
    FreshnessError,
    FrozenViewError,
    LastSeen,
    RollbackError,
    Seen,
    ViewSignatureError,
    build_current_view,
    public_key_id,
    sign_current_view,
    verify_current_view,
    view_bytes,
)

NOW = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)
KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
LINE = "acme/chat-7b"


def _release(version: str = "1.1", status: str = "current", **kw) -> CurrentRelease:
    statement = json.dumps({"model": LINE, "version": version}).encode()
    return CurrentRelease(LINE, version, hashlib.sha256(statement).hexdigest(), len(statement),
                          weights_root="ab" * 32, log_index=7, status=status, **kw)


def _view(version: int = 3, release: CurrentRelease | None = None, now: datetime = NOW, **kw) -> bytes:
    md = build_current_view(release or _release(), version=version, now=now, **kw)
    return view_bytes(sign_current_view(md, KEY))


def test_a_fresh_view_verifies_and_is_real_tuf_metadata():
    from tuf.api.metadata import Metadata, Targets

    data = _view()
    view = verify_current_view(data, KEY.public_key(), model_line=LINE, now=NOW)
    assert view.version == 3 and view.release == _release()
    assert view.expires == NOW + timedelta(days=1)
    md = Metadata.from_bytes(data)  # python-tuf parses it as targets metadata, signed by our key id
    assert isinstance(md.signed, Targets) and list(md.signatures) == [public_key_id(KEY.public_key())]
    target = md.signed.targets["current/" + LINE]
    assert target.hashes == {"sha256": _release().statement_digest} and target.custom["status"] == "current"


def test_freeze_an_expired_view_is_refused():
    data = _view(ttl=timedelta(hours=1))
    verify_current_view(data, KEY.public_key(), model_line=LINE, now=NOW + timedelta(minutes=59))
    with pytest.raises(FrozenViewError, match="expired"):
        verify_current_view(data, KEY.public_key(), model_line=LINE, now=NOW + timedelta(minutes=61))


def test_rollback_an_older_version_is_refused_even_when_fresh_and_signed():
    old = _view(version=3, release=_release("1.0"))
    new = _view(version=4, release=_release("1.0", status="revoked"))
    seen = verify_current_view(new, KEY.public_key(), model_line=LINE, now=NOW).seen
    with pytest.raises(RollbackError, match="older than version 4"):
        verify_current_view(old, KEY.public_key(), model_line=LINE, last_seen=seen, now=NOW)


def test_same_version_with_another_release_is_equivocation_but_a_refresh_is_fine():
    first = verify_current_view(_view(version=5), KEY.public_key(), model_line=LINE, now=NOW)
    refreshed = _view(version=5, now=NOW + timedelta(hours=20))  # same release, later expiry
    assert verify_current_view(refreshed, KEY.public_key(), model_line=LINE, last_seen=first.seen,
                               now=NOW + timedelta(hours=21)).version == 5
    other = _view(version=5, release=_release("9.9"))
    with pytest.raises(RollbackError, match="equivocation"):
        verify_current_view(other, KEY.public_key(), model_line=LINE, last_seen=first.seen, now=NOW)


def test_forgery_and_wrong_keys_are_refused():
    data = _view()
    tampered = data.replace(b'"release_version":"1.1"', b'"release_version":"6.6"')
    assert tampered != data
    with pytest.raises(ViewSignatureError, match="does not verify"):
        verify_current_view(tampered, KEY.public_key(), model_line=LINE, now=NOW)
    longer = data.replace(b'"expires":"2026-11-11T12:00:00Z"', b'"expires":"2099-11-11T12:00:00Z"')
    assert longer != data
    with pytest.raises(ViewSignatureError):
        verify_current_view(longer, KEY.public_key(), model_line=LINE, now=NOW)
    other_key = Ed25519PrivateKey.generate()
    with pytest.raises(ViewSignatureError, match="not signed by the trusted registry key"):
        verify_current_view(data, other_key.public_key(), model_line=LINE, now=NOW)
    unsigned = view_bytes(build_current_view(_release(), version=3, now=NOW))
    with pytest.raises(ViewSignatureError):
        verify_current_view(unsigned, KEY.public_key(), model_line=LINE, now=NOW)


def test_the_view_of_another_line_is_refused():
    other = CurrentRelease("mallory/chat-7b", "1.1", "cd" * 32, 10)
    data = view_bytes(sign_current_view(build_current_view(other, version=9, now=NOW), KEY))
    with pytest.raises(FreshnessError, match="not 'current/acme/chat-7b'"):
        verify_current_view(data, KEY.public_key(), model_line=LINE, now=NOW)


@pytest.mark.parametrize("data", [b"", b"{}", b"not json", b"[1,2]", b"{" * 5000, b" " * (64 * 1024 + 1),
                                  b'{"signed":{"_type":"root"},"signatures":[]}'])
def test_malformed_input_is_a_clear_error(data):
    with pytest.raises(FreshnessError) as err:
        verify_current_view(data, KEY.public_key(), model_line=LINE, now=NOW)
    assert isinstance(err.value, WeightwardenError) and LINE in err.value.reason


@pytest.mark.parametrize(("kw", "needle"), [
    ({"release": CurrentRelease("no spaces allowed", "1", "ab" * 32, 1)}, "model line"),
    ({"release": CurrentRelease(LINE, "1", "AB" * 32, 1)}, "digest"),
    ({"release": CurrentRelease(LINE, "1", "ab" * 32, 1, status="maybe")}, "status"),
    ({"version": 0}, "positive"),
    ({"ttl": timedelta(days=90)}, "lifetime"),
])
def test_build_refuses_bad_input(kw, needle):
    args = {"release": _release(), "version": 1, "now": NOW, **kw}
    with pytest.raises(FreshnessError, match=needle):
        build_current_view(**args)


def test_last_seen_remembers_and_never_goes_backwards(tmp_path):
    store = LastSeen(tmp_path / "state" / "seen.json")
    assert store.get(LINE) is None
    view = verify_current_view(_view(version=4), KEY.public_key(), model_line=LINE, now=NOW)
    store.remember(LINE, view.seen)
    again = LastSeen(tmp_path / "state" / "seen.json")  # a new process reads the same file
    assert again.get(LINE) == view.seen
    with pytest.raises(RollbackError):
        verify_current_view(_view(version=3), KEY.public_key(), model_line=LINE, last_seen=again.get(LINE), now=NOW)
    with pytest.raises(RollbackError):
        again.remember(LINE, Seen(2, "x"))
    again.remember(LINE, Seen(5, "y"))
    assert LastSeen(tmp_path / "state" / "seen.json").get(LINE) == Seen(5, "y")
    (tmp_path / "state" / "seen.json").write_text("garbage")
    with pytest.raises(FreshnessError, match="refusing to forget"):
        LastSeen(tmp_path / "state" / "seen.json").get(LINE)


@pytest.mark.parametrize("entry", [{"digest": "x"}, {"version": "four", "digest": "x"}, {"version": [4]}, "4"])
def test_last_seen_malformed_entry_is_a_clear_error_when_remembering(tmp_path, entry):
    # The write path compares with the remembered version too: a hand-edited entry is the same clear
    # FreshnessError there as on the read path, never an internal KeyError/ValueError.
    path = tmp_path / "seen.json"
    path.write_text(json.dumps({"schema": SEEN_SCHEMA, "lines": {LINE: entry}}))
    with pytest.raises(FreshnessError, match="malformed entry"):
        LastSeen(path).remember(LINE, Seen(5, "y"))
