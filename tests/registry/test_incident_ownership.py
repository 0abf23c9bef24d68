"""Review findings in the registry's incident handling: another publisher cannot withdraw or rewrite an
incident by logging a record under its id, and a record not marked TLP:CLEAR never enters the public log."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from tests.registry.service import LiveServer, make_publisher, release
from weightwarden.registry.client import RegistryClient, RegistryRefused
from weightwarden.registry.entries import EntryError, check_body, incident_body
from weightwarden.registry.incidents import AffectedModel, new_incident, transition
from weightwarden.registry.logkeys import load_or_create
from weightwarden.registry.store import Store


def test_another_publisher_cannot_withdraw_or_rewrite_an_incident(tmp_path: Path) -> None:
    keys = load_or_create(tmp_path / "keys", "test.weightwarden.local/log")
    store = Store.open(str(tmp_path / "r.db"), keys.checkpoint_signer())
    acme = make_publisher(("acme/*",), name="acme")
    mallory = make_publisher(("mallory/*",), name="mallory")
    store.add_publisher(acme.publisher)
    store.add_publisher(mallory.publisher)
    with LiveServer(store, keys) as live, RegistryClient(live.url, state_dir=tmp_path / "c", log_key=keys.vkey()) as c:
        c.publish(release("acme/smol", 1), acme.key)
        real = new_incident(summary="real", affected=[AffectedModel("acme/smol")], risk_domain="content.harm",
                            severity="high")
        c.publish(incident_body(real.to_osv()), acme.key)
        forged = dataclasses.replace(transition(real, "withdrawn"), affected=(AffectedModel("mallory/x"),))
        # Round 2: mallory's record under the same id is logged as mallory's own incident (ids are scoped by
        # publisher key): it neither withdraws nor rewrites acme's.
        c.publish(incident_body(forged.to_osv()), mallory.key)
        (_, record), (_, theirs) = store.incidents()
        assert record["database_specific"]["lifecycle"]["state"] == "reported"
        assert record["affected"][0]["database_specific"]["model_id"] == "acme/smol"
        assert theirs["affected"][0]["database_specific"]["model_id"] == "mallory/x"
        confirmed = transition(real, "confirmed")
        c.publish(incident_body(confirmed.to_osv()), acme.key)  # the owner may continue it
        with pytest.raises(RegistryRefused, match="does not continue"):  # but not rewrite it
            c.publish(incident_body(real.to_osv()), acme.key)
        record = next(r for _, r in store.incidents() if r["affected"][0]["database_specific"]["model_id"] == "acme/smol")
        assert record["database_specific"]["lifecycle"]["state"] == "confirmed"


def test_only_tlp_clear_incidents_enter_the_public_log() -> None:
    amber = new_incident(summary="x", affected=[AffectedModel("acme/smol")], risk_domain="content.harm",
                         severity="high", tlp="TLP:AMBER")
    with pytest.raises(EntryError, match="TLP:CLEAR"):
        check_body(incident_body(amber.to_osv()))
