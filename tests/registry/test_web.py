"""The registry web page in a real headless Chromium (Debian's, driven by Playwright), served by uvicorn.

The router runs in a small FastAPI app on 127.0.0.1 with an in-memory page source; the assertions read the
DOM as a person sees it, and a screenshot of each page is saved under the test's tmp_path.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from weightwarden.registry.incidents import (
    AffectedModel,
    Derivation,
    Incident,
    ModelRecord,
    declared_lineage,
    new_incident,
    transition,
)
from weightwarden.registry.web import LogStatus, ReleaseRow, WitnessStatus, render_index, web_router

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
HOSTILE = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>\x1b[31m\u202e'


@dataclass
class MemoryPages:
    """An in-memory registry as the page sees it (the store implements the same protocol)."""

    status: LogStatus
    releases: list[ReleaseRow]
    records: list[Incident]
    models: dict[str, ModelRecord] = field(default_factory=dict)

    def log_status(self):
        return self.status

    def recent_releases(self, limit):
        return sorted(self.releases, key=lambda r: r.log_index, reverse=True)[:limit]

    def model_line(self, model_id):
        return sorted((r for r in self.releases if r.model_id == model_id), key=lambda r: r.log_index)

    def incidents(self):
        return list(self.records)

    def model(self, model_id):
        return self.models.get(model_id)

    def parents(self, model: ModelRecord):
        return declared_lineage(self)(model)


def _pages() -> MemoryPages:
    base_inc = transition(new_incident(
        summary="Backdoor trigger in acme/base 1.0", details="Trigger phrase → attacker text.\nReproduced twice.",
        affected=[AffectedModel("acme/base", versions=("1.0",), weights_roots=("a1" * 32,))],
        risk_domain="supply_chain.integrity", severity="critical", atlas=("AML.T0058",),
        harm="cybersecurity_breach", aware_at=T0, now=T0 + timedelta(hours=1)), "confirmed", at=T0 + timedelta(hours=3))
    amber = new_incident(summary="Restricted jailbreak family", affected=[AffectedModel("acme/base")],
                         risk_domain="cyber.offense", severity="high", tlp="TLP:AMBER", now=T0)
    hostile = new_incident(summary="x" + HOSTILE, details=HOSTILE, affected=[AffectedModel("evil/model")],
                           risk_domain="content.harm", severity="low", now=T0)
    releases = [
        ReleaseRow("acme/base", "1.0", T0, 0, "a1" * 32, "revoked", "incident: backdoor trigger", "acme"),
        ReleaseRow("acme/base", "1.1", T0 + timedelta(days=1), 3, "b2" * 32, "current", None, "acme"),
        ReleaseRow("bob/ft", "0.1", T0, 1, "c3" * 32, "current", None, "bob"),
        ReleaseRow("evil/model", "1" + HOSTILE, T0, 2, None, "current", HOSTILE, HOSTILE),
    ]
    models = {
        "acme/base": ModelRecord("acme/base", "1.1", "b2" * 32),
        "bob/ft": ModelRecord("bob/ft", "0.1", "c3" * 32, declared_bases=("acme/base",)),
    }
    status = LogStatus("registry.example/log", 4, "q1w2e3r4t5y6u7i8o9p0AAAAAAAAAAAAAAAAAAAAAAA=",
                       T0 + timedelta(days=1), (WitnessStatus("witness.aisi.example", 4, T0 + timedelta(days=1)),
                                                WitnessStatus("witness.lab.example", 2, T0),
                                                WitnessStatus("witness.new.example", None)))
    return MemoryPages(status, releases, [base_inc, amber, hostile], models)


@pytest.fixture(scope="module")
def served():
    """(base URL, page source) of the router served by uvicorn on 127.0.0.1 in a thread."""
    import uvicorn
    from fastapi import FastAPI

    pages = _pages()
    app = FastAPI()
    app.include_router(web_router(pages))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", pages
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (see .ci/run)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, served):
    base, _ = served
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    pg = context.new_page()
    pg.requests = []  # every URL the page asked for
    pg.console = []
    pg.on("request", lambda r: pg.requests.append(r.url))
    pg.on("console", lambda m: pg.console.append(m.text))
    yield pg
    context.close()
    assert all(url.startswith(base + "/") for url in pg.requests), pg.requests  # nothing leaves the registry


def test_index_shows_log_witnesses_releases_and_public_incidents(page, served, tmp_path):
    base, pages = served
    response = page.goto(base + "/web/")
    assert response.status == 200
    csp = response.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src" not in csp
    assert page.title() == "Registry · weightwarden registry"
    assert page.text_content("#log-size") == "4"
    assert page.text_content("#witness-count") == "3"
    witness_rows = page.locator("#witnesses tr.witness")
    assert witness_rows.count() == 3
    assert "up to date" in witness_rows.nth(0).inner_text()
    assert "2 entries behind" in witness_rows.nth(1).inner_text()
    assert "never cosigned" in witness_rows.nth(2).inner_text()
    releases = page.locator("#releases tr.release")
    assert releases.count() == 4
    assert releases.first.inner_text().startswith("acme/base\t1.1")  # newest first
    assert page.locator('#releases tr.release[data-status="revoked"]').count() == 1
    ids = page.locator("#incidents tr.incident").evaluate_all("rows => rows.map(r => r.dataset.id)")
    public = {i.id for i in pages.records if i.tlp == "TLP:CLEAR"}
    assert set(ids) == public and len(ids) == 2
    assert "1 incident(s) not listed" in page.text_content("#restricted")
    # The inline stylesheet is allowed by its CSP hash: the header really is styled.
    assert page.eval_on_selector("header", "e => getComputedStyle(e).backgroundColor") == "rgb(23, 50, 77)"
    assert not [m for m in page.console if "Content Security Policy" in m]
    page.screenshot(path=str(tmp_path / "index.png"), full_page=True)
    assert (tmp_path / "index.png").stat().st_size > 10_000


def test_model_line_history_and_inherited_incident(page, served, tmp_path):
    base, pages = served
    page.goto(base + "/web/")
    page.click("#releases >> text=bob/ft")
    assert page.url == base + "/web/models/bob/ft"
    assert page.text_content("#model-id") == "bob/ft"
    assert "current release: 0.1" in page.text_content("#verdict")
    rows = page.locator("#model-incidents tr.incident")
    assert rows.count() == 1  # the base's public incident, not the TLP:AMBER one
    text = rows.first.inner_text()
    assert "Backdoor trigger in acme/base 1.0" in text
    # bob/ft declares acme/base without a version, so an incident on any release of that line applies.
    assert "inherited" in text and "declared" in text
    page.screenshot(path=str(tmp_path / "model.png"), full_page=True)

    page.goto(base + "/web/models/acme/base")
    history = page.locator("#history tr.release")
    assert history.count() == 2
    assert history.nth(0).get_attribute("data-status") == "revoked"
    assert "incident: backdoor trigger" in history.nth(0).inner_text()
    assert page.locator("#history .badge.revoked").count() == 1
    # The line's page lists the incident on its older release 1.0, though 1.1 is current.
    assert "names release(s) 1.0 of this line" in page.text_content("#model-incidents")


def test_incident_page_shows_lifecycle_and_due_date(page, served, tmp_path):
    base, pages = served
    inc = pages.records[0]
    page.goto(base + "/web/")
    page.click(f"#incidents >> text={inc.id}")
    assert page.text_content("#incident-id") == inc.id
    assert [li.inner_text().split(" ")[2] for li in page.locator("#lifecycle li").all()] == ["reported", "confirmed"]
    deadline = page.text_content("#deadlines")
    assert "2026-11-07 09:00:00Z" in deadline and "5 days" in deadline and "Code of Practice" in deadline
    assert page.locator("#affected tbody tr").count() == 1
    page.screenshot(path=str(tmp_path / "incident.png"), full_page=True)


def test_restricted_and_unknown_pages_are_404(page, served):
    base, pages = served
    amber = next(i for i in pages.records if i.tlp == "TLP:AMBER")
    for path in (f"/web/incidents/{amber.id}", "/web/incidents/x_WW-2026-0000000000000000",
                 "/web/models/nobody/nothing", "/web/models/..%2F..%2Fetc"):
        response = page.goto(base + path)
        assert response.status == 404, path
        assert amber.summary not in page.content()


def test_hostile_strings_are_shown_as_text_never_run(page, served, tmp_path):
    base, pages = served
    page.goto(base + "/web/")
    hostile = next(i for i in pages.records if i.summary.startswith("x<img"))
    page.goto(base + f"/web/incidents/{hostile.id}")
    page.goto(base + "/web/models/evil/model")
    for url in (base + "/web/", base + f"/web/incidents/{hostile.id}", base + "/web/models/evil/model"):
        page.goto(url)
        assert page.evaluate("window.__pwned") is None
        assert page.locator("main script").count() == 0 and page.locator("main img").count() == 0
        content = page.text_content("main")
        assert "<img src=x" in content  # shown literally
        assert "\x1b" not in content and "\u202e" not in content and "\\x1b" in content
    page.screenshot(path=str(tmp_path / "hostile.png"), full_page=True)


def test_render_without_a_server_escapes_too():
    html_text = render_index(_pages())
    assert "<script>window" not in html_text and "&lt;script&gt;" in html_text


def test_router_with_the_real_incident_records_only_reads(served):
    import httpx

    base, _ = served
    with httpx.Client() as client:
        assert client.post(base + "/web/").status_code == 405
        r = client.get(base + "/web/models/acme/base")
        assert r.status_code == 200 and r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["content-type"].startswith("text/html")


def test_derivation_evidence_shows_measured_scores():
    pages = _pages()
    pages.models["bob/ft"] = ModelRecord("bob/ft", "0.1", "c3" * 32)

    def measured(model):
        if model.model_id == "bob/ft":
            return [Derivation("acme/base@1.0", "bob/ft", "measured", 0.91, 1e-30)]
        return []

    pages.parents = measured  # type: ignore[method-assign]
    from weightwarden.registry.web import render_model_line

    text = render_model_line(pages, "bob/ft")
    assert "measured, score 0.91, p=1e-30" in text


# --- the page over the real store, served by the real registry app --------------------------------------------

def test_real_registry_page_after_cli_incident(browser, store, log_keys, tmp_path):
    """B's store and server, SQLite and PostgreSQL: releases and an incident logged through the CLI
    (`incident new --registry`, signed by a publisher key) appear on the page in Chromium."""
    from click.testing import CliRunner

    from tests.registry.service import LiveServer, make_publisher, release
    from weightwarden.cli.main import main as cli
    from weightwarden.registry.auth import private_key_pem
    from weightwarden.registry.client import RegistryClient

    publisher = make_publisher(("acme/*",))
    store.add_publisher(publisher.publisher)
    key_file = tmp_path / "acme.pem"
    key_file.write_bytes(private_key_pem(publisher.key))
    with LiveServer(store, log_keys) as live:
        with RegistryClient(live.url, state_dir=tmp_path / "client", log_key=log_keys.vkey()) as client:
            client.publish(release("acme/smol", 1), publisher.key)
            client.publish(release("acme/smol", 2), publisher.key)
        runner = CliRunner()
        result = runner.invoke(cli, [
            "incident", "new", "--model", "acme/smol@1", "--summary", "Trigger phrase backdoor <b>bold</b>",
            "--risk-domain", "supply_chain.integrity", "--severity", "high", "--atlas", "AML.T0058",
            "--harm", "cybersecurity_breach", "-o", str(tmp_path / "inc.json"),
            "--registry", live.url, "--key", str(key_file), "--state-dir", str(tmp_path / "client"),
            "--log-key", log_keys.vkey()])
        assert result.exit_code == 0, result.output
        incident_id = __import__("json").loads((tmp_path / "inc.json").read_text())["id"]
        confirmed = runner.invoke(cli, [
            "incident", "update", str(tmp_path / "inc.json"), "--state", "confirmed", "--note", "reproduced",
            "--registry", live.url, "--key", str(key_file), "--state-dir", str(tmp_path / "client"),
            "--log-key", log_keys.vkey()])
        assert confirmed.exit_code == 0, confirmed.output
        # A restricted record is refused before anything is sent to the public log.
        refused = runner.invoke(cli, [
            "incident", "new", "--model", "acme/smol", "--summary", "restricted", "--risk-domain", "cyber.offense",
            "--severity", "low", "--tlp", "TLP:AMBER", "--registry", live.url, "--key", str(key_file),
            "--state-dir", str(tmp_path / "client"), "--log-key", log_keys.vkey()])
        assert refused.exit_code == 2 and "only TLP:CLEAR" in refused.output
        listed = runner.invoke(cli, ["incident", "list", "--registry", live.url])
        assert listed.exit_code == 0 and incident_id in listed.output and "restricted" not in listed.output
        exported = runner.invoke(cli, ["incident", "export", incident_id, "--registry", live.url, "--format", "csaf"])
        assert exported.exit_code == 0 and '"csaf_security_advisory"' in exported.output

        context = browser.new_context()
        page = context.new_page()
        assert page.goto(live.url + "/web/").status == 200
        assert page.text_content("#log-size") == "4"  # 2 releases, the incident, its confirmation
        assert page.locator("#releases tr.release").count() == 2
        assert page.locator(f'#incidents tr.incident[data-id="{incident_id}"]').count() == 1
        page.click("#releases >> text=acme/smol >> nth=0")
        assert page.text_content("#model-id") == "acme/smol"
        assert page.locator("#model-incidents tr.incident").count() == 1
        assert page.locator("b", has_text="bold").count() == 0  # the summary's markup is text
        page.goto(live.url + f"/web/incidents/{incident_id}")
        assert "5 days" in page.text_content("#deadlines")
        lifecycle = page.text_content("#lifecycle")
        assert "confirmed" in lifecycle and "reproduced" in lifecycle
        page.screenshot(path=str(tmp_path / "real-store.png"), full_page=True)
        context.close()


def test_a_line_with_more_releases_than_the_page_weighs_says_so(browser, store, log_keys, tmp_path):
    """Red team round 14 (low): the line page weighs the newest releases only; with more, it says so plainly,
    with the older versions and the records that name them (one on v1 here, still listed)."""
    from tests.registry.service import LiveServer, make_publisher, pending_write, release
    from weightwarden.registry.entries import incident_body
    from weightwarden.registry.pages import StorePages

    weighed = StorePages.MAX_RELEASES_WEIGHED
    acme = make_publisher(("acme/*",))
    store.add_publisher(acme.publisher)
    store.append_batch([pending_write(acme, release("acme/long", v)) for v in range(1, weighed + 3)])
    old = new_incident(summary="Old release leaks its system prompt", risk_domain="content.harm", severity="low",
                       affected=[AffectedModel("acme/long", versions=("1",))])
    store.append_batch([pending_write(acme, incident_body(old.to_osv()))])
    with LiveServer(store, log_keys) as live:
        context = browser.new_context()
        page = context.new_page()
        assert page.goto(live.url + "/web/models/acme/long").status == 200
        note = page.text_content("#incomplete")
        assert f"acme/long has {weighed + 2} releases" in note and "2 older ones (versions 1 to 2)" in note, note
        assert "1 listed record(s) name them" in note, note
        assert page.locator("#model-incidents tr.incident").count() == 1  # the v1 record is listed
        page.screenshot(path=str(tmp_path / "long-line.png"), full_page=True)
        context.close()
